"""What the manager hands to strategy threads, and the inboxes that carry it."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any

from stratagem._records import Backpressure, Fill, SeriesKey


@dataclass(slots=True)
class Step:
    """One clock step as one strategy thread sees it: its notifications, in order.

    :param seq: clock step number (monotonic within the session).
    :param time_ns: session time of the step.
    :param items: ``((symbol, interval), n)`` pairs; ``n`` is the published length of
        the series at this step, so the newest bar is row ``n - 1``.
    :param sent_ns: ``perf_counter_ns`` when the manager handed it out.
    :param fills: fills of the strategy's book it hears at this step, before the
        step's notifications.
    """

    seq: int
    time_ns: int
    items: list[tuple[SeriesKey, int]]
    sent_ns: int = 0
    fills: Sequence[Fill] = ()


@dataclass(slots=True)
class Control:
    """A lifecycle message: ``start``, ``symbol_added``, ``fill``, ``save``,
    ``restore``, ``drain`` or ``stop``; never dropped. Acknowledged only when
    ``wait`` says the manager waits for it.

    :param payload: ``restore``: the :class:`InstanceState` to restore.
    """

    kind: str
    seq: int
    time_ns: int
    symbol: str | None = None
    sent_ns: int = 0
    wait: bool = False
    fills: Sequence[Fill] = ()
    payload: Any = None


@dataclass(slots=True)
class Batch:
    """Consecutive data-driven steps handed over at once (one barrier for all).

    Each thread keeps from every step the items it subscribes to, with the
    subscriptions it has at that step; views are as of each step, so handing several
    steps over at once changes nothing a strategy can observe.
    """

    seq: int
    steps: list[Step]


Message = Step | Batch | Control


class DirectInbox:
    """Unbounded FIFO for data-driven runs, where the barrier bounds it to one step."""

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: SimpleQueue[Message] = SimpleQueue()

    def put(self, message: Message) -> int:
        self._queue.put(message)
        return 0

    def put_control(self, message: Control) -> None:
        self._queue.put(message)

    def get(self) -> Message:
        return self._queue.get()

    def __len__(self) -> int:
        return self._queue.qsize()


class BoundedInbox:
    """Bounded FIFO of steps with a backpressure policy, for clock-driven and live runs.

    ``block`` makes the hand-off wait for room (nothing is lost; the lag shows as clock
    drift); ``drop_oldest`` discards the oldest waiting step; ``coalesce`` folds every
    waiting step into one that keeps the latest notification per series. Control
    messages are never dropped or folded and do not count against the bound.
    """

    def __init__(self, capacity: int, policy: Backpressure | str) -> None:
        self.capacity = capacity
        self.policy = Backpressure(policy)
        self._items: deque[Message] = deque()
        self._steps = 0
        self._lock = threading.Lock()
        # the consumer sleeps on a C-level queue of tokens (one per message put,
        # at least one per message held): waking it costs one semaphore release,
        # where a Condition costs a Python-level waiter lock per wait
        self._tokens: SimpleQueue[None] = SimpleQueue()
        self._room = threading.Condition(self._lock)
        self._closed = False

    def __len__(self) -> int:
        return self._steps

    def put(self, step: Step) -> int:
        """Enqueue ``step``; returns the notifications dropped to make room."""
        with self._lock:
            dropped = 0
            if self._steps >= self.capacity:
                if self.policy is Backpressure.BLOCK:
                    while self._steps >= self.capacity and not self._closed:
                        self._room.wait()
                elif self.policy is Backpressure.DROP_OLDEST:
                    dropped = self._drop_oldest()
                else:
                    dropped = self._coalesce(step)
                    self._tokens.put(None)
                    return dropped
            self._items.append(step)
            self._steps += 1
        self._tokens.put(None)
        return dropped

    def put_control(self, message: Control) -> None:
        with self._lock:
            self._items.append(message)
        self._tokens.put(None)

    def get(self) -> Message:
        while True:
            self._tokens.get()
            with self._lock:
                if not self._items:
                    continue  # a token left over by a drop or a fold
                message = self._items.popleft()
                if isinstance(message, Step):
                    self._steps -= 1
                    if self.policy is Backpressure.BLOCK:
                        self._room.notify()
                return message

    def close(self) -> None:
        """Release a producer blocked on a full inbox (session stopping)."""
        with self._lock:
            self._closed = True
            self._room.notify_all()

    def _drop_oldest(self) -> int:
        for index, message in enumerate(self._items):
            if isinstance(message, Step):
                del self._items[index]
                self._steps -= 1
                return len(message.items)
        return 0

    def _coalesce(self, newest: Step) -> int:
        """Fold the waiting steps and ``newest`` into one; returns those lost."""
        kept: list[Message] = []
        latest: dict[SeriesKey, int] = {}
        total = len(newest.items)
        first_sent = newest.sent_ns
        for message in self._items:
            if isinstance(message, Step):
                total += len(message.items)
                first_sent = min(first_sent, message.sent_ns)
                for key, n in message.items:
                    latest.pop(key, None)
                    latest[key] = n
            else:
                kept.append(message)
        for key, n in newest.items:
            latest.pop(key, None)
            latest[key] = n
        merged = Step(newest.seq, newest.time_ns, list(latest.items()), first_sent)
        self._items = deque(kept)
        self._items.append(merged)
        self._steps = 1
        return total - len(merged.items)
