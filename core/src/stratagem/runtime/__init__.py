"""The strategy runtime: one thread per strategy instance, routing and sync modes."""
