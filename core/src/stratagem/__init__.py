"""stratagem: a plugin-based runtime for bar-driven trading strategies.

The public API is what this module exports (and :mod:`stratagem.testing`). Exports
load lazily, so ``import stratagem`` and ``stratagem --help`` import no numpy,
pyarrow, pydantic model or runtime module; each name's module loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stratagem.hookspecs import hookimpl

if TYPE_CHECKING:
    from stratagem._data.bars import BarArrays
    from stratagem._data.intervals import (
        NS_PER_MINUTE,
        IntervalError,
        canonical_interval,
        interval_minutes,
    )
    from stratagem._data.session_data import Bars
    from stratagem._data.sources import DataSourceError, open_bar_files
    from stratagem._follow import FollowingStrategy
    from stratagem._protocols import BarSource, Broker, LiveSource, Reporter, Scanner
    from stratagem._records import (
        Bar,
        BookMode,
        BrokerSpec,
        DataSourceSpec,
        Direction,
        ErrorPolicy,
        Fill,
        MetricsReport,
        Mode,
        Order,
        ReporterSpec,
        RunStatus,
        ScannerSpec,
        SeriesKey,
        Side,
        Signal,
        SignalError,
        SizingKind,
        StrategySpec,
        StrategyState,
    )
    from stratagem._runtime.manager import StartupError
    from stratagem._session.build import Session, build_session
    from stratagem._session.coordinator import ScanContext
    from stratagem._strategy import (
        Strategy,
        StrategyConfig,
        StrategyContext,
        SubscriptionError,
    )

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Bar": "stratagem._records",
    "BarArrays": "stratagem._data.bars",
    "BarSource": "stratagem._protocols",
    "Bars": "stratagem._data.session_data",
    "BookMode": "stratagem._records",
    "Broker": "stratagem._protocols",
    "BrokerSpec": "stratagem._records",
    "DataSourceError": "stratagem._data.sources",
    "DataSourceSpec": "stratagem._records",
    "Direction": "stratagem._records",
    "ErrorPolicy": "stratagem._records",
    "Fill": "stratagem._records",
    "FollowingStrategy": "stratagem._follow",
    "IntervalError": "stratagem._data.intervals",
    "LiveBar": "stratagem._records",
    "LiveSource": "stratagem._protocols",
    "MetricsReport": "stratagem._records",
    "Mode": "stratagem._records",
    "NS_PER_MINUTE": "stratagem._data.intervals",
    "Order": "stratagem._records",
    "Reporter": "stratagem._protocols",
    "ReporterSpec": "stratagem._records",
    "RunStatus": "stratagem._records",
    "ScanContext": "stratagem._session.coordinator",
    "Scanner": "stratagem._protocols",
    "ScannerSpec": "stratagem._records",
    "SeriesKey": "stratagem._records",
    "Session": "stratagem._session.build",
    "Side": "stratagem._records",
    "Signal": "stratagem._records",
    "SignalError": "stratagem._records",
    "SizingKind": "stratagem._records",
    "StartupError": "stratagem._runtime.manager",
    "Strategy": "stratagem._strategy",
    "StrategyConfig": "stratagem._strategy",
    "StrategyContext": "stratagem._strategy",
    "StrategySpec": "stratagem._records",
    "StrategyState": "stratagem._records",
    "SubscriptionError": "stratagem._strategy",
    "build_session": "stratagem._session.build",
    "canonical_interval": "stratagem._data.intervals",
    "interval_minutes": "stratagem._data.intervals",
    "open_bar_files": "stratagem._data.sources",
}

__all__ = [
    "Bar",
    "BarArrays",
    "BarSource",
    "Bars",
    "BookMode",
    "Broker",
    "BrokerSpec",
    "DataSourceError",
    "DataSourceSpec",
    "Direction",
    "ErrorPolicy",
    "Fill",
    "FollowingStrategy",
    "IntervalError",
    "LiveBar",
    "LiveSource",
    "MetricsReport",
    "Mode",
    "NS_PER_MINUTE",
    "Order",
    "Reporter",
    "ReporterSpec",
    "RunStatus",
    "ScanContext",
    "Scanner",
    "ScannerSpec",
    "SeriesKey",
    "Session",
    "Side",
    "Signal",
    "SignalError",
    "SizingKind",
    "StartupError",
    "Strategy",
    "StrategyConfig",
    "StrategyContext",
    "StrategySpec",
    "StrategyState",
    "SubscriptionError",
    "__version__",
    "build_session",
    "canonical_interval",
    "hookimpl",
    "interval_minutes",
    "open_bar_files",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("stratagem")
        except PackageNotFoundError:  # pragma: no cover - an uninstalled tree
            value = "0.0.0"
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'stratagem' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
