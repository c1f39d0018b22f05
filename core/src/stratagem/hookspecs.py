"""Hook specifications of stratagem.

Every hook a plugin may implement is declared here, once, with the docstring that
``docs/hooks.rst`` is rendered from. Implementations are marked with
:data:`stratagem.hookimpl`; a misspelt hook name fails at start-up through
``PluginManager.check_pending()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from stratagem._records import (
        BrokerSpec,
        DataSourceSpec,
        Fill,
        MetricsReport,
        ReporterSpec,
        ScannerSpec,
        StrategySpec,
    )
    from stratagem._strategy import StrategyContext

PROJECT_NAME = "stratagem"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------------------
# Discovery
# -------------------------------------------------------------------------------------


@hookspec
def stratagem_strategies() -> Sequence[StrategySpec]:
    """Offer strategies to the session.

    **When:** once per plugin, on the main thread, while plugins are loaded and before
    any config is validated or any thread starts.

    :returns: a sequence of :class:`stratagem.StrategySpec` records, each naming a
        strategy class and its config class. The loader calls every implementation on
        its own, through pluggy (inside every plugin's wrappers of this hook), so each
        record is traced to the distribution (and version) that offered it; a name
        offered by two distributions is reported as ``DUPLICATE`` for both and
        neither is used. Each strategy class's hook methods are checked against
        their specs here: one taking an argument its hook does not pass makes the
        plugin ``LOAD FAILED``.
    :raises: an exception marks the offering plugin ``LOAD FAILED`` (with the error);
        the other plugins are unaffected.

    .. versionadded:: 0.1
    """


@hookspec
def stratagem_scanners() -> Sequence[ScannerSpec]:
    """Offer scanners: sources of symbols to add while a session runs.

    **When:** once per plugin, on the main thread, while plugins are loaded.

    :returns: a sequence of :class:`stratagem.ScannerSpec` records. A scanner is
        polled by the session thread at every clock step and returns the symbols to
        add; the coordinator warms each one up before strategies hear of it.
    :raises: an exception marks the offering plugin ``LOAD FAILED``; the others load.

    .. versionadded:: 0.1
    """


@hookspec
def stratagem_data_sources() -> Sequence[DataSourceSpec]:
    """Offer data sources (bar file formats, feeds).

    **When:** once per plugin, on the main thread, while plugins are loaded.

    :returns: a sequence of :class:`stratagem.DataSourceSpec` records; the session
        config selects one by ``name`` (``csv`` and ``parquet`` are built in).
    :raises: an exception marks the offering plugin ``LOAD FAILED``; the others load.

    .. versionadded:: 0.1
    """


@hookspec
def stratagem_brokers() -> Sequence[BrokerSpec]:
    """Offer brokers: what turns a book's orders into fills.

    **When:** once per plugin, on the main thread, while plugins are loaded.

    :returns: a sequence of :class:`stratagem.BrokerSpec` records; the session
        config's ``execution.broker`` selects one by ``name`` (``paper`` is built in
        and offered through this same hook). Its factory is called with the validated
        ``execution`` block and returns an object with
        ``fill(order, bars) -> Fill | None`` (:class:`stratagem.Broker`), called by
        the session thread.
    :raises: an exception marks the offering plugin ``LOAD FAILED``; the others load.
        A broker whose ``fill`` raises follows the common failure policy (its
        orders are cancelled and listed when it is quarantined).

    .. versionadded:: 0.1
    """


@hookspec
def stratagem_reporters() -> Sequence[ReporterSpec]:
    """Offer metrics reporters that take a typed config.

    **When:** once per plugin, on the main thread, while plugins are loaded.

    :returns: a sequence of :class:`stratagem.ReporterSpec` records. The session
        config's ``reporters`` selects one by ``name``, alone or as
        ``{"name": ..., "config": {...}}``; the entry's ``config`` is validated by the
        spec's model (a bad value is a config error naming its JSON path) and
        ``stratagem schema`` shows its fields. When the session is built, the
        factory makes one :class:`stratagem.Reporter` for it from the validated
        config; the session calls its ``report`` where it calls
        :func:`stratagem_report_metrics`, and its ``close`` once when it ends.
    :raises: an exception marks the offering plugin ``LOAD FAILED``; the others load.
        A reporter whose ``report`` or ``close`` raises follows
        ``reporter_on_error``, like :func:`stratagem_report_metrics`.

    .. versionadded:: 0.2
    """


# -------------------------------------------------------------------------------------
# Strategy lifecycle
# -------------------------------------------------------------------------------------


@hookspec
def stratagem_on_start(ctx: StrategyContext) -> None:
    """Prepare a strategy instance before the first clock step.

    **When:** once per strategy instance, in that instance's own thread, after the
    session's initial history is published and before any bar is delivered. This is
    where a strategy subscribes with ``ctx.subscribe(symbol, interval)``.

    :param ctx: the instance's context: bar views, subscriptions, ``emit``, logger,
        session time and mode.
    :returns: nothing.
    :raises: subscribing to an interval the session does not derive raises
        :class:`stratagem.SubscriptionError`, which fails the session at start with a
        message naming the strategy. Any other exception is handled by the instance's
        error policy (``on_error``).

    .. versionadded:: 0.1
    """


@hookspec
def stratagem_on_bars(ctx: StrategyContext, symbol: str, interval: str) -> None:
    """React to newly published bars of a subscribed ``(symbol, interval)``.

    **When:** in the strategy instance's own thread, once per subscribed series that
    grew at a clock step, in the deterministic order of the step's batch. Usually one
    bar is new; a step that closes several windows of the series (a gap up to a
    window's end) or backpressure that dropped or coalesced steps makes it more, and
    ``ctx.new_bars`` says how many. It is never broadcast over all strategies: each
    thread calls only its own implementation, so one failing strategy cannot stop
    another.

    :param ctx: the instance's context; ``ctx.bars(symbol, interval)`` is a read-only,
        zero-copy view of the series as of this notification (the newest bar is
        ``[-1]``, the new ones are the last ``ctx.new_bars``).
    :param symbol: the symbol whose bar was published, e.g. ``"ETH_BTC"``.
    :param interval: the bar interval, e.g. ``"5m"``.
    :returns: nothing; signals go through ``ctx.emit``.
    :raises: an exception is counted and logged with strategy, distribution, symbol,
        bar time and traceback, then handled by the error policy: ``continue``,
        ``quarantine`` (no more deliveries, the session goes on) or ``stop`` (the
        session ends with status ``failed``). A call that outlives
        ``callback_timeout_s`` has its stack dumped and the instance is quarantined.

    .. versionadded:: 0.1
    """


@hookspec
def stratagem_on_symbol_added(ctx: StrategyContext, symbol: str) -> None:
    """Learn of a symbol added while the session runs.

    **When:** in each strategy instance's own thread, after the symbol's warm-up
    history is published and before any live bar of it is delivered to anyone.
    Subscriptions made here take effect from the next clock step.

    :param ctx: the instance's context; the warm-up history is already readable
        through ``ctx.bars(symbol, interval)``.
    :param symbol: the symbol that joined the session.
    :returns: nothing.
    :raises: an exception is handled by the instance's error policy, like
        :func:`stratagem_on_bars`.

    .. versionadded:: 0.1
    """


@hookspec
def stratagem_on_fill(ctx: StrategyContext, fill: Fill) -> None:
    """Hear a fill of this strategy's book.

    **When:** in the strategy instance's own thread, before its next ``on_bars``
    after the fill (the fill bar's open); in a data-driven run at the step that
    publishes the fill bar, before that step's notifications. ``ctx.position`` is
    already updated. In a ``net`` book every strategy of the book hears each fill.

    :param ctx: the instance's context.
    :param fill: the :class:`stratagem.Fill`: bar open time, book, symbol, side,
        quantity, price (slippage included), fee.
    :returns: nothing; signals emitted here count as emitted at this step.
    :raises: an exception is handled by the instance's error policy, like
        :func:`stratagem_on_bars`.

    .. versionadded:: 0.1
    """


@hookspec
def stratagem_on_stop(ctx: StrategyContext) -> None:
    """Let a strategy instance finish.

    **When:** once per strategy instance that started, in its own thread, after its
    last delivery (session end, interruption, or quarantine is not a stop: a
    quarantined instance is not called again).

    :param ctx: the instance's context; signals emitted here are still recorded.
    :returns: nothing.
    :raises: an exception is logged and counted; the session still shuts down.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def stratagem_on_save(ctx: StrategyContext) -> dict[str, Any] | None:
    """Give the strategy instance's state, to be kept in the run's journal.

    **When:** in the instance's own thread, at each checkpoint of the session
    (``checkpoint_every`` steps or seconds, and when it stops), and before a hot
    reload replaces it; always between two deliveries, never during one.

    :param ctx: the instance's context, as of the checkpoint.
    :returns: a JSON-serialisable ``dict`` (numbers, strings, booleans, None, lists
        and dicts of them) that :func:`stratagem_on_load` can restore from, or None
        when the instance keeps no state of its own (its subscriptions, position and
        signals are journaled by the runtime). The journal stores it as JSON, never
        pickle, so a journal cannot run code when it is resumed.
    :raises: an exception, or a state that is not JSON, is handled by the instance's
        error policy like :func:`stratagem_on_bars`; the checkpoint is still written,
        without a state for this instance (a resume then only calls its
        ``on_start``).

    .. versionadded:: 0.2
    """


@hookspec
def stratagem_on_load(ctx: StrategyContext, state: dict[str, Any]) -> None:
    """Restore the state :func:`stratagem_on_save` gave.

    **When:** in the instance's own thread when a session resumes from its journal
    (``stratagem run --resume``) or after a hot reload: after ``on_start`` and after
    the runtime restored the instance's subscriptions and position, before its
    first delivery. The bars visible then are those of the checkpoint's session
    time, so ``on_start`` may rebuild what it derives from history, and the saved
    state then replaces what it built.

    :param ctx: the instance's context, as of the checkpoint.
    :param state: the saved state, decoded from JSON (lists come back as lists,
        dict keys as strings).
    :returns: nothing.
    :raises: an exception is handled by the instance's error policy, like
        :func:`stratagem_on_bars`.

    .. versionadded:: 0.2
    """


# -------------------------------------------------------------------------------------
# Reporting
# -------------------------------------------------------------------------------------


@hookspec
def stratagem_report_metrics(report: MetricsReport) -> None:
    """Receive a snapshot of system and per-strategy metrics.

    **When:** on the main thread (never a strategy thread or the session thread),
    every ``metrics_interval_s`` of wall time while the session runs, and once more
    with ``report.final`` set when it ends (also after a failure or Ctrl-C). Each
    selected reporter is called through its own pluggy caller, inside every
    plugin's wrappers of this hook. A reporter that takes a config is offered
    through :func:`stratagem_reporters` instead.

    :param report: a frozen :class:`stratagem.MetricsReport`: ``system`` totals
        (mode, bars in, bars/s, wall time, bottleneck) and one entry per strategy
        instance (notifications, time per notification avg/p50/p99/max, queue, overruns,
        drops, errors, signals, latency to signal, state).
    :returns: nothing; every reporter the session config lists is called.
    :raises: an exception follows ``reporter_on_error`` like any plugin failure:
        the first is logged with the reporter's distribution and traceback, repeats
        are counted; ``quarantine`` (the default) stops calling that reporter and the
        run ends ``degraded``; the session and the other reporters go on.

    .. versionadded:: 0.1
    """
