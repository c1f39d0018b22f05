"""The ``ray`` backend: one Ray task per parameter set.

The bars go into the object store once (``ray.put`` of plain numpy columns); each
task gets them back as read-only numpy views of the store, without a copy. A Ray
worker process keeps its :class:`~stratagem._sweep.task.SweepWorker` (plugins
loaded, bars attached) from one task of a sweep to the next. Without ``address`` a
local Ray instance is started and stopped; an instance this process already joined
(``ray.init`` before the sweep) is used as it is and left running.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stratagem._sweep.shared import SeriesKey, SharedBars, as_columns, from_columns
from stratagem._sweep.task import (
    SetResult,
    SetTask,
    SweepError,
    SweepSetup,
    SweepWorker,
    failed_result,
)

RAY_EXTRA = "stratagem[ray]"

#: this Ray worker process's state for the sweep it last ran a set of
_current: dict[str, SweepWorker] = {}


def import_ray() -> Any:
    """The ``ray`` module.

    :raises SweepError: naming the extra to install when Ray is missing.
    """
    try:
        import ray
    except ImportError:
        raise SweepError(
            "--backend ray needs Ray, which is not installed: pip install "
            f"'{RAY_EXTRA}' (or: pip install 'ray>=2.9')"
        ) from None
    return ray


def run_on_ray(
    setup: SweepSetup,
    columns: Mapping[SeriesKey, Mapping[str, Any]],
    task: SetTask,
) -> SetResult:
    """The Ray task: run one set in this worker process.

    :param setup: the sweep's setup.
    :param columns: the shared bars as numpy views of the object store.
    :param task: the set.
    """
    worker = _current.get(setup.sweep_id)
    if worker is None:
        _current.clear()  # a new sweep: let the last one's bars go
        worker = SweepWorker(setup, from_columns(columns))
        _current[setup.sweep_id] = worker
    return worker.run(task)


class RayBackend:
    """Run sets as Ray tasks, one CPU each.

    :param address: a running cluster's address (``ray://host:10001``, ``auto``);
        None starts a local instance for the sweep.
    :param workers: sets in flight at once (default: the cluster's CPUs); for a
        local instance, also its CPUs.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.ray = import_ray()
        self.address = address
        self.workers = workers

    def describe(self) -> str:
        """What runs the sets, for the console."""
        where = self.address or "a local instance"
        count = f", {self.workers} at a time" if self.workers else ""
        return f"ray ({where}{count})"

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
        :raises KeyboardInterrupt: after cancelling the tasks in flight.
        """
        if not tasks:
            return
        ray = self.ray
        started = not ray.is_initialized()
        if started:
            ray.init(
                address=self.address,
                num_cpus=self.workers if self.address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        try:
            self._run(setup, bars, tasks, on_result)
        finally:
            if started:
                ray.shutdown()

    def _run(
        self,
        setup: SweepSetup,
        bars: SharedBars,
        tasks: Sequence[SetTask],
        on_result: Callable[[SetResult], None],
    ) -> None:
        ray = self.ray
        columns = ray.put(as_columns(bars))
        shared_setup = ray.put(setup)
        # a set that crashes its worker would crash it again: no retry
        remote = ray.remote(num_cpus=1, max_retries=0)(run_on_ray)
        window = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        pending = deque(tasks)
        in_flight: dict[Any, SetTask] = {}
        try:
            while pending or in_flight:
                while pending and len(in_flight) < window:
                    task = pending.popleft()
                    in_flight[remote.remote(shared_setup, columns, task)] = task
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    task = in_flight.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        result = failed_result(task, _ray_error(exc))
                    on_result(result)
        except KeyboardInterrupt:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            raise


def _ray_error(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"the Ray task failed: {type(exc).__name__}" + (
        f": {first}" if first else ""
    )
