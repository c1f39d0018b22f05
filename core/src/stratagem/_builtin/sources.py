"""The built-in ``csv`` and ``parquet`` data sources, offered like any plugin's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stratagem import BarSource, DataSourceSpec, hookimpl
from stratagem._data.sources import CsvBarSource, DataSourceError, ParquetBarSource


def _validation(options: Mapping[str, Any]) -> Any:
    return options.get("validation", "reject")


def _folder(root: Path | None) -> Path:
    if root is None:
        raise DataSourceError(
            "no data folder: pass --data DIR or set session_data_config.data.path"
        )
    return Path(root)


def csv_source(root: Path | None, options: Mapping[str, Any]) -> BarSource:
    """A :class:`CsvBarSource` over ``root``.

    :param root: folder laid out ``<interval>/<SYMBOL>.csv`` (or ``.csv.gz``).
    :param options: ``validation`` (``reject`` or ``drop``); other keys are ignored.
    """
    return CsvBarSource(_folder(root), validation=_validation(options))


def parquet_source(root: Path | None, options: Mapping[str, Any]) -> BarSource:
    """A :class:`ParquetBarSource` over ``root``.

    :param root: folder laid out ``<interval>/<SYMBOL>.parquet``.
    :param options: ``validation`` (``reject`` or ``drop``); other keys are ignored.
    """
    return ParquetBarSource(_folder(root), validation=_validation(options))


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
