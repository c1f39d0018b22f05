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
from stratagem.data.session_data import Bars
from stratagem.hookspecs import hookimpl

try:
    __version__ = version("stratagem")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0.0.0"

__all__ = [
    "Bars",
    "DataSourceSpec",
    "MetricsReport",
    "ScannerSpec",
    "Signal",
    "SignalError",
    "Strategy",
    "StrategyConfig",
    "StrategyContext",
    "StrategySpec",
    "SubscriptionError",
    "__version__",
    "hookimpl",
]
