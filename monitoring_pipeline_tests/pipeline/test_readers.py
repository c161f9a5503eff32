"""pipeline/readers: every supported format read from real files into the staging table, exact values;
every error names the object's URI (never the local copy) and the column or the physical line."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_pipeline.pipeline import readers
from monitoring_pipeline.pipeline.column_types import IngestError
from monitoring_pipeline.storage import duck

HOUR = datetime(2026, 1, 2, 10, tzinfo=UTC)
COLUMNS = [("ts", "timestamp"), ("id", "id"), ("x", "numerical"), ("c", "categorical")]
NESTED = [*COLUMNS, ("n.v", "numerical")]
FIREHOSE = "logs/2026/01/02/10/stream-1-2026-01-02-10-05-00-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
KAFKA = "topics/preds/year=2026/month=01/day=02/hour=10/preds+0+0000000042"


def records(n: int = 5) -> list[dict[str, Any]]:
    """Rows with distinct values; timestamps a few seconds apart, x with decimals, one null category."""
    return [
        {
            "ts": HOUR + timedelta(seconds=7 * i, microseconds=250_000 * i),
            "id": f"req-{i}",
            "x": round(0.5 + 1.25 * i, 2),
            "c": None if i == 3 else f"cat{i % 2}",
            "n": {"v": float(i * 10)},
        }
        for i in range(n)
    ]


def staged_rows(conn: Any, table: str = "stage") -> list[tuple[Any, ...]]:
    return conn.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()


def expected(rows: list[dict[str, Any]], uri: str, nested: bool) -> list[tuple[Any, ...]]:
    out = []
    for r in rows:
        values = [r["ts"], r["id"], r["x"], r["c"]] + ([r["n"]["v"]] if nested else [])
        out.append((*values, uri, HOUR))
    return sorted(out, key=lambda t: t[1])


def json_line(r: dict[str, Any], i: int) -> str:
    """Timestamps spelled three ways (naive = UTC, Z, +02:00); x sometimes a numeric string."""
    ts = r["ts"]
    spelled = [
        ts.replace(tzinfo=None).isoformat(),
        ts.isoformat().replace("+00:00", "Z"),
        ts.astimezone(timezone(timedelta(hours=2))).isoformat(),
    ][i % 3]
    return json.dumps(r | {"ts": spelled, "x": str(r["x"]) if i == 1 else r["x"]})


def write_json(path: Path, rows: list[dict[str, Any]], gz: bool, extra: dict[int, str] | None = None) -> None:
    """One record a line; `extra` puts given text at given 1-based physical line numbers."""
    lines = [json_line(r, i) for i, r in enumerate(rows)]
    for number, text in sorted((extra or {}).items()):
        lines.insert(number - 1, text)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)


def write_csv(path: Path, rows: list[dict[str, Any]], gz: bool, extra: dict[int, str] | None = None) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "ts", "x", "c", "unused"])
    for r in rows:
        writer.writerow([r["id"], r["ts"].isoformat(), r["x"], r["c"] or "", "u"])
    lines = buffer.getvalue().splitlines()
    for number, text in sorted((extra or {}).items()):
        lines.insert(number - 1, text)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)


def arrow_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array([r["ts"] for r in rows], pa.timestamp("us", tz="UTC")),
            "id": [r["id"] for r in rows],
            "x": [r["x"] for r in rows],
            "c": [r["c"] for r in rows],
            "n": [r["n"] for r in rows],
        }
    )


def write_parquet(path: Path, rows: list[dict[str, Any]], gz: bool) -> None:
    pq.write_table(arrow_table(rows), path)


def write_avro(path: Path, rows: list[dict[str, Any]], gz: bool) -> None:
    conn = duck.scratch()
    duck.load_extension(conn, "avro")
    conn.register("rows_to_write", arrow_table(rows))
    conn.execute(f"COPY rows_to_write TO {duck.string_literal(str(path))} (FORMAT avro)")


WRITERS: dict[str, Callable[..., None]] = {
    "json": write_json,
    "csv": write_csv,
    "parquet": write_parquet,
    "avro": write_avro,
}
CASES = [  # (format, gzip, key); "" = a Firehose name, no extension
    *[("json", gz, key) for gz in (False, True) for key in ("", ".json", ".jsonl", ".ndjson")],
    ("json", True, ".gz"),  # Firehose with GZIP compression appends ".gz" to an extension-less name
    *[("csv", gz, key) for gz in (False, True) for key in ("", ".csv")],
    *[(form, False, key) for form in ("parquet", "avro") for key in ("", f".{form}")],
    ("parquet", False, ".snappy.parquet"),
]


@pytest.fixture
def conn() -> Any:
    connection = duck.scratch()
    yield connection
    connection.execute('DROP TABLE IF EXISTS "stage"')
    connection.close()


def stage(
    conn: Any,
    path: Path,
    uri: str,
    columns: list[tuple[str, str]] = COLUMNS,
    configured: str = "auto",
    skip: bool = False,
) -> readers.StagedObject:
    if not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'stage'").fetchone()[0]:
        readers.create_stage(conn, "stage", columns, [("hour", "TIMESTAMPTZ")])
    detected = readers.detect(uri, path, configured)
    return readers.stage_object(conn, "stage", columns, uri, path, detected, [HOUR], skip)


@pytest.mark.parametrize(("form", "gz", "suffix"), CASES)
def test_every_format_reads_the_exact_rows(
    conn: Any, tmp_path: Path, form: str, gz: bool, suffix: str
) -> None:
    base = FIREHOSE if form == "json" and not suffix.startswith(".json") else KAFKA
    key = base + suffix + (".gz" if gz and suffix not in ("", ".gz") else "")
    path = tmp_path / "local-copy"
    rows = records()
    WRITERS[form](path, rows, gz)
    uri = f"s3://logs/{key}"
    assert readers.is_data_key(key, "auto")
    # an extension-less CSV cannot be told from its bytes: its model declares the format
    configured = "csv" if form == "csv" and not suffix else "auto"
    nested = form != "csv"
    columns = NESTED if nested else COLUMNS
    result = stage(conn, path, uri, columns, configured)
    assert result.detected == readers.Detected(form, "gzip" if gz else None)
    assert (result.rows, result.bad_lines, result.first_bad, result.absent) == (len(rows), 0, None, ())
    assert staged_rows(conn) == expected(rows, uri, nested)


def test_dotted_name_prefers_a_flat_column_over_the_struct_path(conn: Any, tmp_path: Path) -> None:
    rows = records()
    table = arrow_table(rows).append_column("n.v", pa.array([-1.0] * len(rows)))
    pq.write_table(table, tmp_path / "f.parquet")
    stage(conn, tmp_path / "f.parquet", "s3://logs/f.parquet", NESTED)
    assert [r[4] for r in staged_rows(conn)] == [-1.0] * len(rows)


def test_json_value_conversions(conn: Any, tmp_path: Path) -> None:
    """Numeric strings are numbers; numbers and booleans are labels (their JSON text); escapes decoded."""
    lines = [
        '{"ts": "2026-01-02T10:00:00", "id": 7, "x": "-1.5e2", "c": true}',
        '{"ts": "2026-01-02 11:30:00+01:00", "id": "a\\"b", "x": 3, "c": 2.5}',
        '{"ts": null, "id": "z", "x": null, "c": "\\u00e9t\\u00e9"}',
    ]
    (tmp_path / "o").write_text("\n".join(lines) + "\n")
    result = stage(conn, tmp_path / "o", "s3://logs/o")
    assert result.rows == 3
    assert staged_rows(conn) == [
        (datetime(2026, 1, 2, 10, tzinfo=UTC), "7", -150.0, "true", "s3://logs/o", HOUR),
        (datetime(2026, 1, 2, 10, 30, tzinfo=UTC), 'a"b', 3.0, "2.5", "s3://logs/o", HOUR),
        (None, "z", None, "été", "s3://logs/o", HOUR),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"x": "abc"}', "line 4: column 'x': expected a number, found \"abc\""),
        ('{"x": true}', "line 4: column 'x': expected a number, found true"),
        ('{"c": {"k": 1}}', "line 4: column 'c': expected a string, number or boolean, found {\"k\":1}"),
        (
            '{"ts": 1767348000}',
            "line 4: column 'ts': expected an ISO-8601 timestamp string, found 1767348000",
        ),
        (
            '{"ts": "yesterday"}',
            "line 4: column 'ts': expected an ISO-8601 timestamp string, found \"yesterday\"",
        ),
        ('{"n": {"v": [1]}}', "line 4: column 'n.v': expected a number, found [1]"),
        ("[1, 2]", "line 4: not a JSON object (found ARRAY)"),
        ('{"x": 1,', "line 4: not valid JSON ("),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_a_bad_json_line_is_an_error_naming_object_and_line(
    conn: Any, tmp_path: Path, line: str, message: str, gz: bool
) -> None:
    path = tmp_path / "local-copy"
    write_json(path, records(), gz, extra={3: "", 4: line})  # a blank line 3: physical lines count
    uri = f"s3://logs/{FIREHOSE}"
    with pytest.raises(IngestError) as caught:
        stage(conn, path, uri, NESTED)
    assert str(caught.value).startswith(f"object {uri}: {message}")
    assert str(path) not in str(caught.value)
    assert staged_rows(conn) == []  # nothing inserted, never a NULL in place of the bad value


@pytest.mark.parametrize("gz", [False, True])
def test_bad_json_lines_skipped_and_counted_when_allowed(conn: Any, tmp_path: Path, gz: bool) -> None:
    rows = records(6)
    path = tmp_path / "local-copy"
    write_json(path, rows, gz, extra={2: "", 3: "not json", 6: '{"x": "abc", "id": "bad"}', 8: "   "})
    result = stage(conn, path, "s3://logs/k.json", skip=True)
    assert (result.rows, result.bad_lines) == (6, 2)
    assert result.first_bad is not None
    assert result.first_bad.startswith("object s3://logs/k.json: line 3: not valid JSON (")
    assert staged_rows(conn) == expected(rows, "s3://logs/k.json", nested=False)


def test_absent_columns_reported_json_null_is_present(conn: Any, tmp_path: Path) -> None:
    lines = ['{"ts": "2026-01-02T10:00:00Z", "id": "a", "x": null}', '{"id": "b", "x": null, "n": {}}']
    (tmp_path / "o.json").write_text("\n".join(lines) + "\n")
    result = stage(conn, tmp_path / "o.json", "s3://logs/o.json", NESTED)
    assert (result.rows, result.absent) == (2, ("c", "n.v"))  # x is null everywhere, but present


def test_absent_columns_reported_on_the_skipping_path(conn: Any, tmp_path: Path) -> None:
    lines = ['{"id": "a", "x": 1}', "{", '{"id": "b", "x": 2, "c": null}']
    (tmp_path / "o.json").write_text("\n".join(lines) + "\n")
    result = stage(conn, tmp_path / "o.json", "s3://logs/o.json", skip=True)
    assert (result.rows, result.bad_lines, result.absent) == (2, 1, ("ts",))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("req-9,2026-01-02T10:00:00Z,abc,cat0,u", "line 4: column 'x': Error when converting column \"x\""),
        (
            "req-9,not-a-time,1,cat0,u",
            "line 4: column 'ts': expected an ISO-8601 timestamp string, found \"not-a-time\"",
        ),
        ("req-9,2026-01-02T10:00:00Z,1", "line 4: Expected Number of Columns: 5 Found: 3"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_a_bad_csv_line_is_an_error_naming_object_and_line(
    conn: Any, tmp_path: Path, line: str, message: str, gz: bool
) -> None:
    path = tmp_path / "local-copy"
    write_csv(path, records(), gz, extra={3: "", 4: line})  # header = line 1, a blank line 3
    with pytest.raises(IngestError) as caught:
        stage(conn, path, "s3://logs/k.csv.gz" if gz else "s3://logs/k.csv")
    assert str(caught.value).startswith(f"object s3://logs/k.csv{'.gz' if gz else ''}: {message}")
    assert str(path) not in str(caught.value)
    assert staged_rows(conn) == []


def test_bad_csv_lines_skipped_and_counted_when_allowed(conn: Any, tmp_path: Path) -> None:
    rows = records(6)
    bad = {2: "req-8,2026-01-02T10:00:00Z,abc,cat0,u", 5: "", 7: "req-9,1,2", 9: "req-7,soon,1,c,u"}
    write_csv(tmp_path / "k.csv", rows, gz=False, extra=bad)
    result = stage(conn, tmp_path / "k.csv", "s3://logs/k.csv", skip=True)
    assert (result.rows, result.bad_lines) == (6, 3)
    assert result.first_bad is not None and result.first_bad.startswith("object s3://logs/k.csv: line 2: ")
    assert staged_rows(conn) == expected(rows, "s3://logs/k.csv", nested=False)


def test_csv_missing_declared_header(conn: Any, tmp_path: Path) -> None:
    write_csv(tmp_path / "k.csv", records(), gz=False)
    with pytest.raises(
        IngestError, match=r"^object s3://logs/k.csv: missing column 'n.v' \(declared as numerical"
    ):
        stage(conn, tmp_path / "k.csv", "s3://logs/k.csv", NESTED)


@pytest.mark.parametrize("form", ["parquet", "avro"])
def test_typed_sources_name_missing_and_mistyped_columns(conn: Any, tmp_path: Path, form: str) -> None:
    path = tmp_path / "local-copy"
    WRITERS[form](path, records(), False)
    uri = f"s3://logs/{KAFKA}.{form}"
    with pytest.raises(IngestError) as caught:
        stage(conn, path, uri, [*COLUMNS, ("n.w", "numerical")])
    assert str(caught.value).startswith(f"object {uri}: missing column 'n.w' (declared as numerical)")
    with pytest.raises(IngestError) as caught:
        stage(conn, path, uri, [("ts", "timestamp"), ("id", "numerical")])
    assert str(caught.value).startswith(
        f"object {uri}: column 'id' has type VARCHAR, but it is declared numerical"
    )
    assert str(path) not in str(caught.value)


def test_unreadable_typed_object_names_the_uri(conn: Any, tmp_path: Path) -> None:
    path = tmp_path / "local-copy"
    path.write_bytes(b"PAR1 truncated")
    with pytest.raises(IngestError) as caught:
        stage(conn, path, "s3://logs/x.parquet")
    assert str(caught.value).startswith("object s3://logs/x.parquet: not a readable Parquet file")
    assert str(path) not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "auto", "explicit"),
    [
        (FIREHOSE, True, True),
        (FIREHOSE + ".gz", True, True),
        ("logs/2026/01/02/10/my.stream-1-2026-01-02-10-05-00-0f1e2d3c", True, True),
        (KAFKA + ".json.gz", True, True),
        (KAFKA + ".parquet", True, True),
        (KAFKA + ".snappy.parquet", True, True),
        (KAFKA + ".gz.parquet", True, True),
        (KAFKA + ".avro", True, True),
        ("m/dt=2026-01-02/hour=10/part.ndjson", True, True),
        ("m/dt=2026-01-02/hour=10/_SUCCESS", False, False),
        ("m/dt=2026-01-02/hour=10/.x.tmp", False, False),
        ("m/dt=2026-01-02/hour=10/x.json.tmp", False, False),
        ("m/dt=2026-01-02/hour=10/part.parquet.crc", False, False),
        ("m/dt=2026-01-02/hour=10_$folder$", False, False),
        ("m/dt=2026-01-02/hour=10/", False, False),
        ("m/dt=2026-01-02/hour=10/notes.txt", False, True),
    ],
)
def test_is_data_key(key: str, auto: bool, explicit: bool) -> None:
    assert readers.is_data_key(key, "auto") is auto
    assert readers.is_data_key(key, "json") is explicit


def test_detect_by_content_and_configuration(tmp_path: Path) -> None:
    path = tmp_path / "local-copy"
    write_csv(path, records(), gz=True)
    uri = f"s3://logs/{FIREHOSE}"
    with pytest.raises(IngestError) as caught:
        readers.detect(uri, path, "auto")
    assert str(caught.value).startswith(f"object {uri}: cannot tell its format")
    assert "`logs_format`" in str(caught.value) and str(path) not in str(caught.value)
    assert readers.detect(uri, path, "csv") == readers.Detected("csv", "gzip")
    path.write_text('\n  {"id": 1}\n')
    assert readers.detect(uri, path, "auto") == readers.Detected("json", None)
    assert readers.detect(uri + ".json.gz", path, "auto") == readers.Detected("json", "gzip")  # by name


@pytest.mark.parametrize(("unit", "scale"), [("s", 1), ("ms", 1_000), ("us", 1_000_000)])
@pytest.mark.parametrize("form", ["json", "csv"])
def test_epoch_timestamps_are_read_in_the_configured_unit(
    conn: Any, tmp_path: Path, form: str, unit: str, scale: int
) -> None:
    """Kafka Connect's JsonConverter writes a Connect Timestamp as epoch milliseconds: with
    timestamp_epoch_unit the number is that instant, exactly (microseconds included); ISO strings still read;
    without a unit a number fails naming the line."""
    stamps = [HOUR + timedelta(minutes=7, microseconds=250_000 * (scale > 1)), HOUR + timedelta(seconds=59)]
    epochs = [round(t.timestamp() * scale) if scale > 1 else t.timestamp() for t in stamps]
    path = tmp_path / f"epoch.{form}"
    if form == "json":
        lines = [json.dumps({"ts": e, "id": f"e{i}", "x": 1.0, "c": "a"}) for i, e in enumerate(epochs)]
        lines.append(json.dumps({"ts": HOUR.isoformat(), "id": "iso", "x": 2.0, "c": "b"}))
    else:
        rows = [f"{e},e{i},1.0,a" for i, e in enumerate(epochs)]
        lines = ["ts,id,x,c", *rows, f"{HOUR.isoformat()},iso,2.0,b"]
    path.write_text("\n".join(lines) + "\n")
    uri = f"s3://b/epoch.{form}"
    readers.create_stage(conn, "stage", COLUMNS, [("hour", "TIMESTAMPTZ")])
    detected = readers.detect(uri, path, "auto")
    readers.stage_object(conn, "stage", COLUMNS, uri, path, detected, [HOUR], False, unit)
    got = sorted(conn.execute("SELECT id, ts FROM stage").fetchall())
    want = sorted([(f"e{i}", t) for i, t in enumerate(stamps)] + [("iso", HOUR)])
    assert [(i, t.astimezone(UTC)) for i, t in got] == want
    conn.execute("DROP TABLE stage")
    readers.create_stage(conn, "stage", COLUMNS, [("hour", "TIMESTAMPTZ")])
    first = 1 if form == "json" else 2  # after the CSV header
    with pytest.raises(IngestError, match=rf"epoch\.{form}: line {first}: column 'ts'"):
        readers.stage_object(conn, "stage", COLUMNS, uri, path, detected, [HOUR], False)
