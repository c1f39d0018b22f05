"""stratagem: a plugin-based runtime for bar-driven trading strategies."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from stratagem._records import (
    DataSourceSpec,
    MetricsReport,
    ScannerSpec,
    Signal,
    SignalError,
    StrategySpec,
)
from stratagem._strategy import (
    Strategy,
    StrategyConfig,
    StrategyContext,
    SubscriptionError,
)
from stratagem.data.bars import BarArrays
from stratagem.data.intervals import (
    NS_PER_MINUTE,
    IntervalError,
    canonical_interval,
    interval_minutes,
)
from stratagem.data.session_data import Bars
from stratagem.hookspecs import hookimpl
from stratagem.runtime.manager import StartupError
from stratagem.session.coordinator import ScanContext

try:
    __version__ = version("stratagem")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0.0.0"

__all__ = [
    "NS_PER_MINUTE",
    "BarArrays",
    "Bars",
    "DataSourceSpec",
    "IntervalError",
    "MetricsReport",
    "ScanContext",
    "ScannerSpec",
    "Signal",
    "SignalError",
    "StartupError",
    "Strategy",
    "StrategyConfig",
    "StrategyContext",
    "StrategySpec",
    "SubscriptionError",
    "__version__",
    "canonical_interval",
    "hookimpl",
    "interval_minutes",
]
