"""The progress bar of ``stratagem run`` on a terminal: session time, share done,
steps, bars/s and the time left."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from stratagem._data.timefmt import format_ts

if TYPE_CHECKING:
    from stratagem._session.build import Session


class RunProgress:
    """A rich progress bar over a running session, in session time.

    The share done is the session time elapsed over the session's span: the data's
    last bar in a replay, the config's ``end`` in a live run (a live run without an
    end shows no share and no time left). Updated from the main thread while the
    session runs (``Session.run(on_tick=...)``); the log prints above it.

    :param session: the session being run.
    :param console: the rich console of the run (a terminal).
    """

    def __init__(self, session: Session, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.session = session
        self._wall0 = time.perf_counter()
        self.bar = Progress(
            TextColumn("{task.fields[clock]}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[steps]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task(
            "session", total=None, clock="loading", steps="", rate=""
        )
        self.bar.start()

    def span(self) -> tuple[int, int] | None:
        """``(start, end)`` of the session in session time, once known."""
        start = self.session.coordinator.result.start_ns
        if self.session.spec.live:
            end = self.session.spec.end_ns
        else:
            end = self.session.processor.last_time_ns
        if start is None or end is None or end <= start:
            return None
        return start, end

    def update(self) -> None:
        """Show where the session is now."""
        processor = self.session.processor
        now = processor.time_ns
        if now is None:
            return
        wall = time.perf_counter() - self._wall0
        rate = processor.bars_in / wall if wall > 0 else 0.0
        span = self.span()
        total = completed = None
        if span is not None:
            start, end = span
            total, completed = end - start, min(max(now, start), end) - start
        self.bar.update(
            self.task,
            total=total,
            completed=completed,
            clock=format_ts(now),
            steps=f"{processor.steps:,} steps",
            rate=f"{rate:,.0f} bars/s",
        )

    def close(self) -> None:
        """Show the final state once, then take the bar off the screen."""
        self.update()
        self.bar.stop()
