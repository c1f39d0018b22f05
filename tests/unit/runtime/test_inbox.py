"""Bounded inboxes: each backpressure policy keeps its bound and counts its losses."""

from __future__ import annotations

import threading
import time

import pytest

from stratagem._runtime.inbox import BoundedInbox, Control, Step

A = ("A", "1m")
B = ("B", "1m")


def step(seq: int, *items: tuple[tuple[str, str], int]) -> Step:
    return Step(seq=seq, time_ns=seq, items=list(items), sent_ns=seq)


def drain(inbox: BoundedInbox) -> list:
    out = []
    while len(inbox) or inbox._items:
        out.append(inbox.get())
    return out


def test_drop_oldest_keeps_the_newest_steps_and_counts_notifications() -> None:
    inbox = BoundedInbox(2, "drop_oldest")
    dropped = [inbox.put(step(i, (A, i), (B, i))) for i in range(1, 6)]
    assert dropped == [0, 0, 2, 2, 2]
    assert len(inbox) == 2
    assert [m.seq for m in drain(inbox)] == [4, 5]


def test_coalesce_keeps_the_latest_per_series() -> None:
    inbox = BoundedInbox(2, "coalesce")
    inbox.put(step(1, (A, 1), (B, 1)))
    inbox.put(step(2, (A, 2)))
    lost = inbox.put(step(3, (B, 3)))
    # three steps held 4 notifications; one step with A@2 and B@3 remains
    assert lost == 2
    assert len(inbox) == 1
    (merged,) = drain(inbox)
    assert dict(merged.items) == {A: 2, B: 3}
    assert merged.seq == 3
    assert merged.sent_ns == 1  # latency is measured from the oldest folded step


def test_control_messages_are_never_dropped_and_keep_their_order() -> None:
    inbox = BoundedInbox(1, "drop_oldest")
    inbox.put(step(1, (A, 1)))
    inbox.put_control(Control("symbol_added", 2, 0, symbol="Z"))
    inbox.put(step(3, (A, 3)))
    messages = drain(inbox)
    assert [type(m).__name__ for m in messages] == ["Control", "Step"]
    assert messages[1].seq == 3


def test_block_waits_for_room_and_loses_nothing() -> None:
    inbox = BoundedInbox(1, "block")
    inbox.put(step(1, (A, 1)))
    finished = threading.Event()

    def producer() -> None:
        inbox.put(step(2, (A, 2)))
        finished.set()

    thread = threading.Thread(target=producer)
    thread.start()
    time.sleep(0.1)
    assert not finished.is_set(), "a full 'block' inbox must hold the producer"
    assert inbox.get().seq == 1
    assert finished.wait(2)
    assert inbox.get().seq == 2
    thread.join()


def test_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="Backpressure"):
        BoundedInbox(4, "drop_newest")
