"""FollowingStrategy: a base class that follows configured symbols bar by bar and
seeds their state from the warm-up history, so the warm-up invariant holds by
construction."""

from __future__ import annotations

from collections.abc import Sequence

from stratagem._data.intervals import canonical_interval
from stratagem._data.session_data import Bars
from stratagem._records import Signal
from stratagem._strategy import Strategy, StrategyConfig, StrategyContext


class FollowingStrategy(Strategy):
    """Base class of strategies that fold every bar of their symbols into per-symbol
    state, one bar at a time, and may signal on it.

    It follows each symbol of :meth:`symbols_to_follow` that is in the session at
    start, and each one a scanner adds later. Following a symbol means, in this
    order: :meth:`start_following` (set up its state), subscribing to its
    :meth:`intervals_to_follow`, then calling :meth:`update` for every bar of those
    series that is already visible (the warm-up history: bars before the session's
    ``start``, or published when the symbol joined), oldest first, one interval after
    the other, and dropping whatever these calls return. From then on every new bar
    of those series is passed to :meth:`update` exactly once, oldest first (one
    notification may bring several, see ``ctx.new_bars``), and the signal it returns
    is emitted.

    History and new bars go through the same :meth:`update`, so a symbol's state at
    a bar does not depend on whether the session started long before that bar or
    just before it, as long as the history covers the strategy's look-back: a run
    from ``t`` gives the signals of the whole run on the bars at or after ``t``.

    Subclasses implement :meth:`update`; :meth:`start_following`,
    :meth:`symbols_to_follow` and :meth:`intervals_to_follow` have defaults to
    override as needed. A subclass that also overrides ``on_start``,
    ``on_symbol_added`` or ``on_bars`` calls the base class's method from it.

    :param config: the validated instance of :attr:`config_class`.
    """

    def __init__(self, config: StrategyConfig) -> None:
        super().__init__(config)
        self._following: dict[str, None] = {}
        self._fed: set[tuple[str, str]] = set()

    @property
    def following(self) -> tuple[str, ...]:
        """Symbols followed so far, in the order they were taken up."""
        return tuple(self._following)

    # --- overridden by subclasses ---------------------------------------------------

    def symbols_to_follow(self) -> Sequence[str]:
        """Symbols to follow whenever they are in the session.

        :returns: by default ``self.config.symbols_used()`` (the field ``symbols``).
        """
        return self.config.symbols_used()

    def intervals_to_follow(self) -> Sequence[str]:
        """Intervals subscribed for each followed symbol, whose bars feed
        :meth:`update`.

        :returns: by default ``self.config.intervals_used()`` (the fields
            ``interval`` and ``intervals``). Override it when the config names
            intervals that are only read, and subscribe to those in
            :meth:`start_following`.
        """
        return self.config.intervals_used()

    def start_following(self, ctx: StrategyContext, symbol: str) -> None:
        """Called once per followed symbol, before its subscriptions and its warm-up.

        Set up the symbol's state here, and subscribe to series that
        :meth:`update` only reads (their bars are not fed to it). Does nothing by
        default.

        :param ctx: the strategy's context, as of the start or of the symbol's
            insertion.
        :param symbol: the symbol now followed.
        """

    def update(
        self,
        ctx: StrategyContext,
        symbol: str,
        interval: str,
        bars: Bars,
        index: int,
    ) -> Signal | None:
        """Fold bar ``index`` of ``bars`` into the state of ``symbol``; the signal it
        gives, if any.

        Called for each bar of each followed series exactly once, oldest first: for
        the warm-up history when the symbol is taken up, then for each new bar.
        Return the signal rather than emitting it: the base class emits it for a
        new bar and drops it for a history bar, so history seeds the state and
        never signals. Read the bar as ``bars.close[index]`` and so on (slices such
        as ``bars.close[index - k + 1 : index + 1]`` are views, not copies). Bars
        past ``index`` may be visible too (the rest of the history, or of a
        notification that brought several bars); reading them would make the
        result depend on when the bar was seen. Other series are read with
        ``ctx.bars``, as of the current call.

        :param ctx: the strategy's context.
        :param symbol: the followed symbol.
        :param interval: one of :meth:`intervals_to_follow`, canonical (``"1h"``,
            not ``"60m"``).
        :param bars: the view of ``(symbol, interval)`` as of this call.
        :param index: position of the bar in ``bars``.
        :returns: a :class:`~stratagem.Signal` on this bar, or None.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement update()")

    # --- lifecycle ------------------------------------------------------------------

    def on_start(self, ctx: StrategyContext) -> None:
        """Follow the symbols to follow that the session starts with.

        :param ctx: the strategy's context.
        """
        present = set(ctx.symbols)
        for symbol in self.symbols_to_follow():
            if symbol in present and symbol not in self._following:
                self._follow(ctx, symbol)

    def on_symbol_added(self, ctx: StrategyContext, symbol: str) -> None:
        """Follow ``symbol`` when it is one to follow.

        :param ctx: the strategy's context.
        :param symbol: the symbol that joined the session.
        """
        if symbol not in self._following and symbol in self.symbols_to_follow():
            self._follow(ctx, symbol)

    def on_bars(self, ctx: StrategyContext, symbol: str, interval: str) -> None:
        """Pass each new bar of a followed series to :meth:`update`; emit what it
        returns.

        :param ctx: the strategy's context.
        :param symbol: the notified symbol.
        :param interval: the notified interval.
        """
        if (symbol, interval) not in self._fed:
            return
        bars = ctx.bars(symbol, interval)
        n = len(bars)
        for signal in self.update_range(ctx, symbol, interval, bars, n - ctx.new_bars):
            ctx.emit(signal)

    def update_range(
        self,
        ctx: StrategyContext,
        symbol: str,
        interval: str,
        bars: Bars,
        start: int,
    ) -> list[Signal]:
        """Fold bars ``start`` to the last of ``bars`` into the state of ``symbol``,
        oldest first; the signals they give, in order.

        By default it calls :meth:`update` for each bar. Override it to evaluate the
        bars vectorised (with ``batch_delivery = True``, a notification brings a
        whole data-driven batch of them): it must give exactly the signals, and
        leave exactly the state, of :meth:`update` called bar by bar.

        :param ctx: the strategy's context.
        :param symbol: the followed symbol.
        :param interval: the series' interval, canonical.
        :param bars: the view of ``(symbol, interval)`` as of this call.
        :param start: the first bar to fold.
        :returns: the signals, oldest bar first.
        """
        update = self.update
        out = []
        for index in range(start, len(bars)):
            signal = update(ctx, symbol, interval, bars, index)
            if signal is not None:
                out.append(signal)
        return out

    def _follow(self, ctx: StrategyContext, symbol: str) -> None:
        self._following[symbol] = None
        self.start_following(ctx, symbol)
        intervals: list[str] = []
        for interval in self.intervals_to_follow():
            # subscribing first makes an interval the session lacks fail here; the
            # history read below and the count of bars not new at the first
            # notification are both taken at this same session time
            ctx.subscribe(symbol, interval)
            key = (symbol, canonical_interval(interval))
            if key not in self._fed:
                self._fed.add(key)
                intervals.append(key[1])
        for interval in intervals:
            history = ctx.bars(symbol, interval)
            # the history seeds the state; what it would signal is dropped
            self.update_range(ctx, symbol, interval, history, 0)
