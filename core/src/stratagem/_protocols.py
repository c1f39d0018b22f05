"""Protocols a plugin implements: what the session needs of a bar source, a
scanner, a broker and a reporter. Structural: a plugin's class fits without
inheriting from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator

    from stratagem._data.bars import BarArrays
    from stratagem._data.session_data import Bars
    from stratagem._records import Fill, LiveBar, MetricsReport, Order
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
class Reporter(Protocol):
    """A metrics reporter made for one session by a :class:`stratagem.ReporterSpec`
    factory, with its validated config. The session calls it on the main thread
    only. Take what it holds (sockets, threads, files) at the first report, not in
    the factory: ``stratagem validate`` builds a session without running it."""

    def report(self, report: MetricsReport) -> None:
        """Take one snapshot: every ``metrics_interval_s`` while the session runs,
        and once more with ``report.final`` set when it ends.

        :param report: the snapshot (frozen).
        :raises: an exception follows ``reporter_on_error`` like any plugin failure.
        """
        ...

    def close(self) -> None:
        """Release what the reporter holds (sockets, threads, files): called once
        when the session ends, after the final report, whether the session
        succeeded, failed, was refused before its first step, or the reporter was
        quarantined. An exception is recorded as a failure of the reporter."""
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
        arrival order; returns when the feed ends for good or ``stop`` is set.

        The session checks each bar by the rules files are held to. A feed that
        sends what cannot be read as a bar raises
        :class:`~stratagem.DataSourceError` naming the feed."""
        ...
