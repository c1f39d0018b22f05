"""The built-in ``csv`` and ``parquet`` data sources, offered like any plugin's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stratagem import BarSource, DataSourceSpec, hookimpl
from stratagem._data.sources import CsvBarSource, ParquetBarSource


def _validation(options: Mapping[str, Any]) -> Any:
    return options.get("validation", "reject")


def csv_source(root: Path, options: Mapping[str, Any]) -> BarSource:
    """A :class:`CsvBarSource` over ``root``.

    :param root: folder laid out ``<interval>/<SYMBOL>.csv`` (or ``.csv.gz``).
    :param options: ``validation`` (``reject`` or ``drop``); other keys are ignored.
    """
    return CsvBarSource(Path(root), validation=_validation(options))


def parquet_source(root: Path, options: Mapping[str, Any]) -> BarSource:
    """A :class:`ParquetBarSource` over ``root``.

    :param root: folder laid out ``<interval>/<SYMBOL>.parquet``.
    :param options: ``validation`` (``reject`` or ``drop``); other keys are ignored.
    """
    return ParquetBarSource(Path(root), validation=_validation(options))


@hookimpl
def stratagem_data_sources() -> list[DataSourceSpec]:
    return [
        DataSourceSpec(
            name="csv",
            factory=csv_source,
            description="CSV bar files <interval>/<SYMBOL>.csv or .csv.gz",
        ),
        DataSourceSpec(
            name="parquet",
            factory=parquet_source,
            description="Parquet bar files <interval>/<SYMBOL>.parquet",
        ),
    ]
