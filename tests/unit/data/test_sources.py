"""CSV and Parquet bar sources on bad files built from real rows."""

from __future__ import annotations

import csv
import gzip
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratagem._builtin.sources import stratagem_data_sources
from stratagem._data.bars import BarArrays
from stratagem._data.intervals import NS_PER_MINUTE
from stratagem._data.sources import (
    CsvBarSource,
    DataSourceError,
    ParquetBarSource,
    read_plain_csv,
    write_bars_csv,
    write_bars_parquet,
)
from stratagem._data.validation import BarValidationError

POLICIES = ("reject", "drop")
HEADER = "timestamp,open,high,low,close,volume"


@pytest.fixture(scope="module")
def real_lines(shared_data: Path) -> list[str]:
    """Header and the first 30 data lines of the real ETH_BTC 1m file."""
    with (shared_data / "bars" / "1m" / "ETH_BTC.csv").open() as stream:
        lines = [next(stream).rstrip("\n") for _ in range(31)]
    assert lines[0] == HEADER
    return lines


def put(root: Path, lines: list[str], name: str = "ETH_BTC.csv") -> Path:
    """Write ``lines`` as ``root/1m/<name>`` and return the file."""
    path = root / "1m" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def field(line: str, index: int, value: str) -> str:
    parts = line.split(",")
    parts[index] = value
    return ",".join(parts)


def parsed(lines: list[str]) -> dict[str, list]:
    """The columns of CSV ``lines``, parsed by the standard library."""
    rows = list(csv.DictReader(lines))
    ts = [
        int(datetime.fromisoformat(row["timestamp"]).timestamp()) * 10**9
        for row in rows
    ]
    values = {c: [float(row[c]) for row in rows] for c in HEADER.split(",")[1:]}
    return {"ts": ts, **values}


def assert_same_bars(bars: BarArrays, expected: dict[str, list]) -> None:
    assert bars.ts.tolist() == expected["ts"]
    for name in ("open", "high", "low", "close", "volume"):
        assert getattr(bars, name).tolist() == expected[name], name


# --- good files -----------------------------------------------------------------------


def test_csv_columns_match_the_text(tmp_path: Path, real_lines: list[str]) -> None:
    put(tmp_path, real_lines)
    source = CsvBarSource(tmp_path)
    bars = source.load("ETH_BTC", "1m")
    assert bars.ts.dtype == np.int64 and bars.close.dtype == np.float64
    assert bars.quality is None
    assert_same_bars(bars, parsed(real_lines))
    assert source.files_used == [tmp_path / "1m" / "ETH_BTC.csv"]
    assert source.reports[tmp_path / "1m" / "ETH_BTC.csv"].ok


def test_load_clips_to_half_open_range_by_open_time(
    tmp_path: Path, real_lines: list[str]
) -> None:
    put(tmp_path, real_lines)
    full = CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    start, end = int(full.ts[5]), int(full.ts[12])
    part = CsvBarSource(tmp_path).load("ETH_BTC", "1m", start_ns=start, end_ns=end)
    np.testing.assert_array_equal(part.ts, full.ts[5:12])
    assert len(CsvBarSource(tmp_path).load("ETH_BTC", "1m", end_ns=start)) == 5
    assert len(CsvBarSource(tmp_path).load("ETH_BTC", "1m", start_ns=end)) == 30 - 12


def test_gzip_file_loads_like_plain(tmp_path: Path, real_lines: list[str]) -> None:
    put(tmp_path, real_lines, "ETH_BTC.csv.gz")
    source = CsvBarSource(tmp_path)
    assert source.available("ETH_BTC", "1m")
    assert source.path("ETH_BTC", "1m").name == "ETH_BTC.csv.gz"
    assert_same_bars(source.load("ETH_BTC", "1m"), parsed(real_lines))


def test_parquet_file_loads_like_csv(tmp_path: Path, real_lines: list[str]) -> None:
    put(tmp_path, real_lines)
    bars = CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    write_bars_parquet(tmp_path / "pq" / "1m" / "ETH_BTC.parquet", bars)
    source = ParquetBarSource(tmp_path / "pq")
    assert_same_bars(source.load("ETH_BTC", "1m"), parsed(real_lines))
    assert source.files_used == [tmp_path / "pq" / "1m" / "ETH_BTC.parquet"]


def test_interval_spelling_is_canonical(tmp_path: Path, real_lines: list[str]) -> None:
    path = put(tmp_path, real_lines)
    hourly = tmp_path / "1h" / "ETH_BTC.csv"
    hourly.parent.mkdir()
    hourly.write_bytes(path.read_bytes())
    # 1m bars are misaligned in an hourly file: proves the 1h rules were applied
    with pytest.raises(BarValidationError, match="misaligned_timestamp"):
        CsvBarSource(tmp_path).load("ETH_BTC", "60m")


def test_blank_lines_keep_row_numbers_true(
    tmp_path: Path, real_lines: list[str]
) -> None:
    lines = [*real_lines[:5], "", *real_lines[5:]]
    lines[10] = field(lines[10], 2, "nan")  # line 11 of the file
    put(tmp_path, lines)
    with pytest.raises(BarValidationError) as info:
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    assert info.value.issues[0].row == 11


# --- NaN, high < low, duplicates, unsorted, misaligned: through files -----------------


def test_nan_file_rejected(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[8] = field(lines[8], 3, "NaN")
    path = put(tmp_path, lines)
    source = CsvBarSource(tmp_path)
    with pytest.raises(BarValidationError) as info:
        source.load("ETH_BTC", "1m")
    text = str(info.value)
    assert str(path) in text and "row 9" in text and "column low" in text
    assert "non_finite" in text
    assert source.reports[path].counts["non_finite"] == 1
    assert source.files_used == [path]


def test_nan_file_dropped(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[8] = field(lines[8], 3, "NaN")
    path = put(tmp_path, lines)
    source = CsvBarSource(tmp_path, validation="drop")
    bars = source.load("ETH_BTC", "1m")
    expected = parsed(real_lines[:8] + real_lines[9:])
    assert_same_bars(bars, expected)
    report = source.reports[path]
    assert report.dropped == 1 and report.bad_rows.tolist() == [9]
    assert report.as_dict()["counts"] == {"non_finite": 1}


def test_high_below_low_file_rejected(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[12] = field(lines[12], 2, "0.00000001")
    put(tmp_path, lines)
    with pytest.raises(BarValidationError) as info:
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    [issue] = info.value.issues
    assert (issue.row, issue.column, issue.rule) == (13, "high", "high_below_low")


def test_high_below_low_file_dropped(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[12] = field(lines[12], 2, "0.00000001")
    path = put(tmp_path, lines)
    source = CsvBarSource(tmp_path, validation="drop")
    bars = source.load("ETH_BTC", "1m")
    assert_same_bars(bars, parsed(real_lines[:12] + real_lines[13:]))
    assert source.reports[path].counts["high_below_low"] == 1


def test_duplicated_rows_rejected(tmp_path: Path, real_lines: list[str]) -> None:
    lines = [*real_lines[:11], real_lines[10], *real_lines[11:]]
    put(tmp_path, lines)
    with pytest.raises(BarValidationError) as info:
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    [issue] = info.value.issues
    assert (issue.row, issue.rule) == (12, "duplicate_timestamp")
    assert "row 12" in str(info.value) and "column timestamp" in str(info.value)


def test_duplicated_rows_dropped(tmp_path: Path, real_lines: list[str]) -> None:
    lines = [*real_lines[:11], real_lines[10], *real_lines[11:]]
    path = put(tmp_path, lines)
    source = CsvBarSource(tmp_path, validation="drop")
    assert_same_bars(source.load("ETH_BTC", "1m"), parsed(real_lines))
    assert source.reports[path].counts["duplicate_timestamp"] == 1


def test_unsorted_rows_rejected(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[20], lines[21] = lines[21], lines[20]
    put(tmp_path, lines)
    with pytest.raises(BarValidationError) as info:
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    [issue] = info.value.issues
    assert (issue.row, issue.rule) == (22, "out_of_order")


def test_unsorted_rows_dropped(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[20], lines[21] = lines[21], lines[20]
    path = put(tmp_path, lines)
    source = CsvBarSource(tmp_path, validation="drop")
    bars = source.load("ETH_BTC", "1m")
    assert_same_bars(bars, parsed(real_lines[:20] + real_lines[21:]))
    assert source.reports[path].counts["out_of_order"] == 1


def test_misaligned_timestamp_rejected(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[3] = field(lines[3], 0, lines[3].split(",")[0].replace(":00Z", ":30Z"))
    put(tmp_path, lines)
    with pytest.raises(BarValidationError) as info:
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    [issue] = info.value.issues
    assert (issue.row, issue.rule) == (4, "misaligned_timestamp")
    assert issue.ts % NS_PER_MINUTE == 30 * 10**9


def test_misaligned_timestamp_dropped(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[3] = field(lines[3], 0, lines[3].split(",")[0].replace(":00Z", ":30Z"))
    path = put(tmp_path, lines)
    source = CsvBarSource(tmp_path, validation="drop")
    bars = source.load("ETH_BTC", "1m")
    assert_same_bars(bars, parsed(real_lines[:3] + real_lines[4:]))
    assert source.reports[path].counts["misaligned_timestamp"] == 1


# --- files that are not bars, under either policy -------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_zero_byte_file(tmp_path: Path, policy: str) -> None:
    path = tmp_path / "1m" / "ETH_BTC.csv"
    path.parent.mkdir()
    path.write_bytes(b"")
    with pytest.raises(DataSourceError, match=r"ETH_BTC\.csv: empty file \(0 bytes\)"):
        CsvBarSource(tmp_path, validation=policy).load("ETH_BTC", "1m")


@pytest.mark.parametrize("policy", POLICIES)
def test_header_only_file(tmp_path: Path, real_lines: list[str], policy: str) -> None:
    put(tmp_path, real_lines[:1])
    with pytest.raises(DataSourceError, match="has a header but no bars"):
        CsvBarSource(tmp_path, validation=policy).load("ETH_BTC", "1m")


@pytest.mark.parametrize("policy", POLICIES)
def test_missing_symbol_file(
    tmp_path: Path, real_lines: list[str], policy: str
) -> None:
    put(tmp_path, real_lines)
    put(tmp_path, real_lines, "LTC_BTC.csv")
    source = CsvBarSource(tmp_path, validation=policy)
    assert not source.available("ETH_BTX", "1m")
    with pytest.raises(DataSourceError) as info:
        source.load("ETH_BTX", "1m")
    text = str(info.value)
    assert str(tmp_path / "1m" / "ETH_BTX.csv") in text
    assert "did you mean 'ETH_BTC'" in text
    assert "ETH_BTC, LTC_BTC" in text
    assert source.files_used == []


def test_missing_interval_folder_lists_the_present_ones(
    tmp_path: Path, real_lines: list[str]
) -> None:
    put(tmp_path, real_lines)
    with pytest.raises(
        DataSourceError, match=r"does not exist \(interval folders .*: 1m\)"
    ):
        CsvBarSource(tmp_path).load("ETH_BTC", "5m")


@pytest.mark.parametrize("policy", POLICIES)
def test_header_missing_a_column(
    tmp_path: Path, real_lines: list[str], policy: str
) -> None:
    lines = [",".join(line.split(",")[:5]) for line in real_lines]
    put(tmp_path, lines)
    with pytest.raises(DataSourceError) as info:
        CsvBarSource(tmp_path, validation=policy).load("ETH_BTC", "1m")
    text = str(info.value)
    assert "ETH_BTC.csv" in text and "lacks column volume" in text
    assert "found columns:    timestamp,open,high,low,close" in text


def test_misspelt_header_column_is_pointed_out(
    tmp_path: Path, real_lines: list[str]
) -> None:
    put(tmp_path, [real_lines[0].replace("close", "clsoe"), *real_lines[1:]])
    with pytest.raises(DataSourceError, match="'clsoe' is not 'close'"):
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")


@pytest.mark.parametrize("policy", POLICIES)
def test_gzip_file_with_wrong_schema(
    tmp_path: Path, real_lines: list[str], policy: str
) -> None:
    renamed = [real_lines[0].replace("volume", "vol"), *real_lines[1:]]
    put(tmp_path, renamed, "ETH_BTC.csv.gz")
    with pytest.raises(DataSourceError) as info:
        CsvBarSource(tmp_path, validation=policy).load("ETH_BTC", "1m")
    text = str(info.value)
    assert "ETH_BTC.csv.gz" in text and "lacks column volume" in text
    assert "expected columns: timestamp,open,high,low,close,volume" in text
    assert "found columns:    timestamp,open,high,low,close,vol" in text


def test_gzip_suffix_on_a_plain_file(tmp_path: Path, real_lines: list[str]) -> None:
    path = put(tmp_path, real_lines)
    path.rename(path.with_name("ETH_BTC.csv.gz"))
    with pytest.raises(DataSourceError, match=r"ETH_BTC\.csv\.gz: not a readable gzip"):
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")


@pytest.mark.parametrize("policy", POLICIES)
def test_parquet_file_with_wrong_schema(
    tmp_path: Path, real_lines: list[str], policy: str
) -> None:
    rows = list(csv.DictReader(real_lines))
    table = pa.table(
        {
            "timestamp": pa.array([r["timestamp"] for r in rows]),  # text, not a time
            "open": pa.array([float(r["open"]) for r in rows]),
            "high": pa.array([float(r["high"]) for r in rows]),
            "low": pa.array([float(r["low"]) for r in rows]),
            "close": pa.array([float(r["close"]) for r in rows]),
        }
    )
    path = tmp_path / "1m" / "ETH_BTC.parquet"
    path.parent.mkdir()
    pq.write_table(table, path)
    with pytest.raises(DataSourceError) as info:
        ParquetBarSource(tmp_path, validation=policy).load("ETH_BTC", "1m")
    text = str(info.value)
    assert "ETH_BTC.parquet: wrong Parquet schema" in text
    assert "column 'timestamp' has type string" in text
    assert "column 'volume' is missing" in text
    assert "expected: timestamp: timestamp[ns, tz=UTC]" in text
    assert "found:    timestamp: string, open: double" in text


def test_parquet_nan_rows_count_from_one(tmp_path: Path, real_lines: list[str]) -> None:
    put(tmp_path, real_lines)
    bars = CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    cols = {name: col.copy() for name, col in bars.columns().items()}
    cols["open"][4] = np.nan
    path = write_bars_parquet(
        tmp_path / "pq" / "1m" / "ETH_BTC.parquet", BarArrays(**cols)
    )
    with pytest.raises(BarValidationError, match="row 5, .*column open: non_finite"):
        ParquetBarSource(tmp_path / "pq").load("ETH_BTC", "1m")
    source = ParquetBarSource(tmp_path / "pq", validation="drop")
    assert len(source.load("ETH_BTC", "1m")) == 29
    assert source.reports[path].bad_rows.tolist() == [5]


def test_not_a_parquet_file(tmp_path: Path, real_lines: list[str]) -> None:
    path = put(tmp_path, real_lines)
    path.rename(path.with_suffix(".parquet"))
    with pytest.raises(DataSourceError, match="not a readable Parquet file"):
        ParquetBarSource(tmp_path).load("ETH_BTC", "1m")


# --- unparseable values ---------------------------------------------------------------


def test_unparseable_number_names_row_and_column(
    tmp_path: Path, real_lines: list[str]
) -> None:
    lines = list(real_lines)
    lines[17] = field(lines[17], 4, "0.1O5")
    put(tmp_path, lines)
    with pytest.raises(DataSourceError) as info:
        CsvBarSource(tmp_path, validation="drop").load("ETH_BTC", "1m")
    assert "row 18, column close: cannot parse '0.1O5' as a number" in str(info.value)


def test_empty_value_is_unparseable_not_missing(
    tmp_path: Path, real_lines: list[str]
) -> None:
    lines = list(real_lines)
    lines[25] = field(lines[25], 5, "")
    put(tmp_path, lines)
    with pytest.raises(DataSourceError, match="row 26, column volume: cannot parse ''"):
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")


def test_unparseable_timestamp_names_row(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    naive = lines[2].split(",")[0].replace("T", " ").rstrip("Z")
    lines[2] = field(lines[2], 0, naive)
    put(tmp_path, lines)
    with pytest.raises(DataSourceError) as info:
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    text = str(info.value)
    assert f"row 3, column timestamp: cannot parse '{naive}'" in text
    assert "ISO-8601 UTC" in text


def test_row_with_missing_field(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    lines[14] = ",".join(lines[14].split(",")[:5])
    put(tmp_path, lines)
    with pytest.raises(
        DataSourceError, match="row 15: 5 fields where the header has 6"
    ):
        CsvBarSource(tmp_path).load("ETH_BTC", "1m")


# --- writing and the built-in plugin --------------------------------------------------


def test_write_bars_csv_format(tmp_path: Path, real_lines: list[str]) -> None:
    put(tmp_path, real_lines)
    bars = CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    out = write_bars_csv(tmp_path / "out" / "1m" / "ETH_BTC.csv", bars)
    text = out.read_text().splitlines()
    assert text[0] == HEADER and len(text) == 31
    assert text[1].startswith("2018-01-20T04:53:00Z,")
    assert parsed(text) == parsed(real_lines)
    derived = BarArrays(**bars.columns(), quality=np.full(len(bars), 80.0))
    out = write_bars_csv(tmp_path / "out" / "1m" / "DERIVED.csv.gz", derived)
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert lines[0] == HEADER + ",quality" and lines[1].endswith(",80")
    back = CsvBarSource(tmp_path / "out").load("DERIVED", "1m")
    np.testing.assert_array_equal(back.quality, derived.quality)


def test_builtin_plugin_offers_csv_and_parquet(
    tmp_path: Path, real_lines: list[str]
) -> None:
    specs = {spec.name: spec for spec in stratagem_data_sources()}
    assert set(specs) == {"csv", "parquet"}
    assert all(spec.description for spec in specs.values())
    put(tmp_path, real_lines)
    source = specs["csv"].factory(tmp_path, {"validation": "drop"})
    assert isinstance(source, CsvBarSource) and source.validation == "drop"
    assert len(source.load("ETH_BTC", "1m")) == 30
    parquet = specs["parquet"].factory(tmp_path, {"validation": "reject"})
    assert isinstance(parquet, ParquetBarSource) and not parquet.available(
        "ETH_BTC", "1m"
    )
    with pytest.raises(ValueError, match="'reject' or 'drop'"):
        specs["csv"].factory(tmp_path, {"validation": "skip"})


# --- the two CSV parsers --------------------------------------------------------------


def _same_columns(plain: BarArrays, arrow: BarArrays) -> None:
    assert plain.columns().keys() == arrow.columns().keys()
    for name, column in plain.columns().items():
        other = arrow.columns()[name]
        assert column.dtype == other.dtype, name
        # bit for bit: the same float, not merely an equal one (-0.0, NaN payloads)
        assert column.tobytes() == other.tobytes(), name


def test_plain_reader_agrees_with_pyarrow_on_every_real_file(
    shared_data: Path,
) -> None:
    files = sorted((shared_data / "bars").glob("*/*.csv"))
    assert len(files) >= 20
    for path in files:
        raw = path.read_bytes()
        plain = read_plain_csv(raw)
        assert plain is not None, f"{path} is not in the plain layout"
        arrow = CsvBarSource._read_with_arrow(
            path, raw, CsvBarSource._header(path, raw)
        )
        assert len(plain) == len(arrow) > 0, path
        _same_columns(plain, arrow)


def test_plain_reader_agrees_on_numbers_written_in_every_form(
    tmp_path: Path, real_lines: list[str]
) -> None:
    forms = ["1", "+1.5", "1.", ".5", "00001.5", "1e5", "1E-7", "1.5e+2", "-0.0"]
    forms += ["0.30000000000000004", "9007199254740993", "1e309", "2e-324"]
    lines = [HEADER] + [
        field(line, 5, forms[i % len(forms)]) for i, line in enumerate(real_lines[1:])
    ]
    path = put(tmp_path, lines)
    raw = path.read_bytes()
    plain = read_plain_csv(raw)
    assert plain is not None
    _same_columns(plain, CsvBarSource._read_with_arrow(path, raw, HEADER.split(",")))
    assert plain.volume[3] == 0.5 and plain.volume[11] == float("inf")


def test_plain_reader_reads_derived_bars_written_by_the_writer(
    tmp_path: Path, real_lines: list[str]
) -> None:
    bars = CsvBarSource(tmp_path).read(put(tmp_path, real_lines))[0]
    quality = np.linspace(20.0, 100.0, len(bars))
    derived = BarArrays(**{**bars.columns(), "quality": quality})
    raw = write_bars_csv(tmp_path / "out.csv", derived).read_bytes()
    plain = read_plain_csv(raw)
    assert plain is not None and plain.derived
    assert plain.quality.tolist() == quality.tolist()
    assert plain.ts.tolist() == bars.ts.tolist()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: t.replace("close,volume", "volume,close"), id="order"),
        pytest.param(lambda t: t.replace(",volume\n", ",volume,extra\n"), id="extra"),
        pytest.param(lambda t: t.replace("T04:5", " 04:5", 1), id="space-time"),
        pytest.param(lambda t: t.replace(":00Z", ":00.5Z", 1), id="fraction"),
        pytest.param(lambda t: t.replace(":00Z", ":00+00:00", 1), id="offset"),
        pytest.param(lambda t: t.replace("\n2018", "\n\n2018", 1), id="blank-line"),
        pytest.param(lambda t: t.replace(",0.0", ',"0.0', 1), id="quote"),
        pytest.param(lambda t: t.replace("2018-01-20", "2018-02-30", 1), id="no-date"),
        pytest.param(lambda t: t.replace("2018-01-20", "2300-01-20", 1), id="far"),
    ],
)
def test_files_outside_the_plain_layout_go_to_pyarrow(
    tmp_path: Path, real_lines: list[str], change: Any
) -> None:
    text = change("\n".join(real_lines) + "\n")
    assert read_plain_csv(text.encode()) is None


def test_a_large_session_switches_to_pyarrow_with_the_same_bars(
    tmp_path: Path, real_lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = put(tmp_path, real_lines)
    source = CsvBarSource(tmp_path)
    first = source.load("ETH_BTC", "1m")
    monkeypatch.setattr(CsvBarSource, "plain_budget_bytes", 0)
    second = CsvBarSource(tmp_path).load("ETH_BTC", "1m")
    _same_columns(first, second)
    assert len(first) == 30 and path.stat().st_size > 0
