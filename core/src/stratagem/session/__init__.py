"""The session: clock, data processing, scanners and the run command."""
