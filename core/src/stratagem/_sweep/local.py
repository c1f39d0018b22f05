"""The ``local`` backend: worker processes on this machine.

Workers are started with ``forkserver`` (``spawn`` where it is missing), never
``fork``: the driver may have threads running. Each maps the sweep's bar file
read-only (:mod:`.shared`), loads the plugins once, then runs one set at a time
from its own pipe. The driver knows which set each worker holds, so a worker that
dies (a crash, a kill) fails that set alone: the set is reported, a new worker takes
its place and the others go on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from stratagem._sweep.shared import (
    MappedBars,
    SharedBars,
    attach_mapped_bars,
    scratch_folder,
    write_mapped_bars,
)
from stratagem._sweep.task import (
    SetResult,
    SetTask,
    SweepError,
    SweepSetup,
    SweepWorker,
    failed_result,
)

#: workers that may die before taking their first set, per worker slot, before the
#: sweep gives up (they would all die the same way)
_START_FAILURES_PER_SLOT = 2


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def worker_main(conn: Connection, setup: SweepSetup, layout: MappedBars) -> None:
    """A worker process: attach the bars, load the plugins, run sets until told to
    stop (``None``) or the driver goes away.

    :param conn: this worker's end of its pipe.
    :param setup: the sweep's setup.
    :param layout: the mapped bar file.
    """
    # Ctrl-C reaches the whole process group: the driver decides what stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        worker = SweepWorker(setup, attach_mapped_bars(layout))
    except Exception as exc:  # noqa: BLE001 - reported to the driver
        conn.send(("failed", "".join(traceback.format_exception(exc))))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(("done", worker.run(task)))


@dataclass
class _Slot:
    process: Any
    conn: Connection
    task: SetTask | None = None
    ready: bool = False


class LocalBackend:
    """Run sets in ``workers`` processes of this machine.

    :param workers: processes to run at once (default: the CPUs).
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._context = multiprocessing.get_context(_start_method())
        if self._context.get_start_method() == "forkserver":
            self._context.set_forkserver_preload(
                ["stratagem._sweep.local", "stratagem._session.build"]
            )

    def describe(self) -> str:
        """What runs the sets, for the console."""
        return f"local, {self.workers} worker process(es)"

    def run(
        self,
        setup: SweepSetup,
        bars: SharedBars,
        tasks: Sequence[SetTask],
        on_result: Callable[[SetResult], None],
    ) -> None:
        """Run every task; call ``on_result`` on this thread as each finishes.

        :param setup: the sweep's setup.
        :param bars: the shared bars.
        :param tasks: the sets to run.
        :param on_result: told each set's result, in completion order.
        :raises SweepError: when workers cannot start.
        :raises KeyboardInterrupt: after stopping the workers (unfinished sets
            are not reported).
        """
        if not tasks:
            return
        with scratch_folder() as folder:
            layout = write_mapped_bars(bars, Path(folder) / "bars.bin")
            pool = _Pool(self._context, min(self.workers, len(tasks)), setup, layout)
            try:
                pool.run(deque(tasks), on_result)
            finally:
                pool.close()


class _Pool:
    def __init__(
        self, context: Any, size: int, setup: SweepSetup, layout: MappedBars
    ) -> None:
        self.context = context
        self.size = size
        self.setup = setup
        self.layout = layout
        self.slots: list[_Slot] = []
        self.start_failures = 0

    def _start(self) -> _Slot:
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=worker_main,
            args=(child, self.setup, self.layout),
            name="stratagem-sweep-worker",
            daemon=True,
        )
        process.start()
        child.close()
        slot = _Slot(process, parent)
        self.slots.append(slot)
        return slot

    def run(
        self, pending: deque[SetTask], on_result: Callable[[SetResult], None]
    ) -> None:
        for _ in range(self.size):
            self._start()
        while pending or any(slot.task is not None for slot in self.slots):
            waitables: list[Any] = []
            for slot in self.slots:
                waitables += [slot.conn, slot.process.sentinel]
            ready = set(wait(waitables))
            for slot in list(self.slots):
                if slot.conn in ready:
                    try:
                        message = slot.conn.recv()
                    except (EOFError, OSError):
                        message = None
                    if message is not None:
                        self._handle(slot, message, pending, on_result)
                        continue
                if slot.conn in ready or slot.process.sentinel in ready:
                    self._lost(slot, on_result, bool(pending))

    def _handle(
        self,
        slot: _Slot,
        message: tuple[str, Any],
        pending: deque[SetTask],
        on_result: Callable[[SetResult], None],
    ) -> None:
        kind, body = message
        if kind == "failed":
            raise SweepError(f"a sweep worker could not start:\n{body}")
        if kind == "done":
            slot.task = None
            on_result(body)
        slot.ready = True
        if pending:
            slot.task = pending.popleft()
            slot.conn.send(slot.task)

    def _lost(
        self, slot: _Slot, on_result: Callable[[SetResult], None], more: bool
    ) -> None:
        """A worker exited: fail the set it held and start another in its place."""
        slot.process.join(timeout=5)
        code = slot.process.exitcode
        self.slots.remove(slot)
        slot.conn.close()
        if slot.task is not None:
            on_result(
                failed_result(
                    slot.task,
                    f"the worker process died while running this set ({_exit(code)})",
                    worker=f"pid {slot.process.pid}",
                )
            )
        elif not slot.ready:
            self.start_failures += 1
            if self.start_failures > _START_FAILURES_PER_SLOT * self.size:
                raise SweepError(
                    f"sweep workers keep dying before their first set "
                    f"(last: {_exit(code)})"
                )
        if more:
            self._start()

    def close(self) -> None:
        for slot in self.slots:
            if slot.process.is_alive() and slot.task is None:
                # a worker that died has nothing to be told; it is joined below
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
        for slot in self.slots:
            slot.process.join(timeout=0 if slot.task is not None else 5)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)
            slot.conn.close()
        self.slots.clear()


def _exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
