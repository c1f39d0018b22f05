"""Protocols a plugin implements: what the session needs of a bar source and a
scanner. Structural: a plugin's class fits without inheriting from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator

    from stratagem._data.bars import BarArrays
    from stratagem._data.session_data import Bars
    from stratagem._records import Fill, LiveBar, Order
    from stratagem._session.coordinator import ScanContext


@runtime_checkable
class BarSource(Protocol):
    """Where a session's bars come from (the ``csv`` and ``parquet`` sources,
    ``stratagem.testing.MemorySource``, a plugin's feed).

    ``load`` may be called from any thread; a source that records what it read for
    the run manifest exposes ``files_used`` (paths) and ``reports`` (per path, a
    validation report with ``as_dict()``).
    """

    def available(self, symbol: str, interval: str) -> bool:
        """Whether the source has bars of ``symbol`` at ``interval`` (e.g. ``"1m"``)."""
        ...

    def load(
        self,
        symbol: str,
        interval: str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> BarArrays:
        """The validated bars with open time in ``[start_ns, end_ns)``."""
        ...


@runtime_checkable
class Scanner(Protocol):
    """A source of symbols to add mid-session, polled by the session thread after
    every clock step."""

    def scan(self, session: ScanContext) -> Sequence[str]:
        """Symbols to add now (already present ones are ignored)."""
        ...


@runtime_checkable
class Broker(Protocol):
    """Executes a book's market orders (the built-in ``paper`` broker, or an adapter
    to a real venue), called by the session thread's ExecutionManager."""

    def fill(self, order: Order, bars: Bars) -> Fill | None:
        """The order's fill, or None while it cannot fill yet.

        :param order: the order; it fills at a bar opening at or after its
            ``decision_ns``.
        :param bars: the order symbol's 1m bars published so far (read-only).
        """
        ...


@runtime_checkable
class LiveSource(Protocol):
    """A bar source that also streams bars as they close (a live feed): a session
    over it runs live. ``load`` gives the warm-up history before ``start_ns``."""

    def available(self, symbol: str, interval: str) -> bool: ...

    def load(
        self,
        symbol: str,
        interval: str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> BarArrays: ...

    def stream(
        self, symbols: Sequence[str], start_ns: int, stop: threading.Event
    ) -> Iterator[LiveBar]:
        """Closed base bars of ``symbols`` opening at or after ``start_ns``, in
        arrival order; returns when the feed ends for good or ``stop`` is set."""
        ...
