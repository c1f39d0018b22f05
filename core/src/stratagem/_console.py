"""The one rich console maker: output that survives a closed pipe.

``stratagem run ... 2>&1 | head`` closes the pipe while the session still runs.
rich's default answer to that is ``SystemExit(1)`` from inside the next print,
which would end the run before its folder is written. A console made here goes
quiet instead: what it would print is dropped, the stream it wrote to is pointed at
``/dev/null`` (so that neither logging nor the interpreter's exit trips over it
again), and the run goes on to write its outputs and exit with its own code.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from rich.console import Console


class _PipeSafeConsole(Console):
    def on_broken_pipe(self) -> None:
        self.quiet = True
        with contextlib.suppress(AttributeError, OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.file.fileno())
            finally:
                os.close(devnull)


def console(**options: Any) -> Console:
    """A :class:`rich.console.Console` with ``options`` that falls silent when its
    stream's reader goes away, instead of exiting the process."""
    return _PipeSafeConsole(**options)
