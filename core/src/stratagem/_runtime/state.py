"""What a strategy instance's checkpoint holds (journaled, restored on resume), and
the hand-over of a hot reload."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InstanceState:
    """One strategy instance's part of a checkpoint.

    :param state: what its ``on_save`` returned, as decoded JSON (None: nothing
        saved); a copy, so the strategy going on cannot change it.
    :param subscriptions: ``(symbol, interval, partial)`` of each subscription.
    :param positions: its book's position per symbol, as of the fills it heard.
    :param signal_count: its signals up to the checkpoint.
    :param quarantined: whether its policy had quarantined it.
    :param error: why ``on_save`` gave no state, when it failed.
    """

    state: dict[str, Any] | None
    subscriptions: tuple[tuple[str, str, bool], ...]
    positions: Mapping[str, float]
    signal_count: int
    quarantined: bool = False
    error: str | None = None


@dataclass
class Handover:
    """A hot reload in flight: the running instance's state passes to the instance
    that replaces it, which says how it went.

    :param old_instance: the configured instance being replaced (its code and
        config), run again with the saved state if the new one fails to start.
    :param wait_s: how long the new instance waits for the old one's state.
    """

    old_instance: Any
    wait_s: float
    saved: InstanceState | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    message: str = ""

    def hand_over(self, state: InstanceState) -> None:
        """The old instance's last state (called in its thread)."""
        self.saved = state
        self.ready.set()

    def finish(self, ok: bool, message: str) -> None:
        """The new instance started (or fell back); wakes whoever waits."""
        self.ok, self.message = ok, message
        self.done.set()
