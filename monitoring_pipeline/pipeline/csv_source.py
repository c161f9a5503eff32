"""CSV objects (a header row, RFC 4180), staged with every declared value checked, never silently NULL.

DuckDB's CSV reader rejects a number that does not convert, with its physical line number (header = line 1,
blank lines count), but turns an unparsable TIMESTAMPTZ into NULL (duckdb 1.5.5): timestamps are read as
text and cast in SQL. The clean path is one scan; only when it fails is the object read again to find the
bad lines (DuckDB's rejects table, and for timestamps Python's csv module, which counts physical lines).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from monitoring_pipeline.pipeline.column_types import ROLE_TYPES, IngestError
from monitoring_pipeline.pipeline.staging import Target, epoch_sql
from monitoring_pipeline.pipeline.text_sources import EXPECTED, OBJECT, Staged
from monitoring_pipeline.storage import duck

REJECTS, SCANS, STAMPS = "_reader_rejects", "_reader_scans", "_reader_stamps"
READ_TYPES = {"numerical": "DOUBLE", "timestamp": "VARCHAR", "id": "VARCHAR", "categorical": "VARCHAR"}


def _header(target: Target, compression: str | None) -> list[str]:
    with target.open(compression) as lines:
        first = lines.readline()
    try:
        names = next(csv.reader([first.decode("utf-8-sig").rstrip("\r\n")]), [])
    except UnicodeDecodeError as exc:
        raise IngestError(f"object {target.uri}: the CSV header is not valid UTF-8 ({exc})") from exc
    if not names:
        raise IngestError(f"object {target.uri}: no CSV header row")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise IngestError(f"object {target.uri}: the CSV header repeats {duplicated}")
    for column, role in target.columns:
        if column not in names:
            raise IngestError(
                f"object {target.uri}: missing column {column!r} (declared as {role}); "
                f"columns present: {sorted(names)}"
            )
    return names


def _source(target: Target, compression: str | None, names: Sequence[str], rejects: bool) -> str:
    """read_csv of the whole header, nothing sniffed: numbers as DOUBLE (DuckDB rejects what does not
    convert), everything else as text."""
    declared = {c: READ_TYPES[role] for c, role in target.columns}
    spec = ", ".join(f"{duck.string_literal(n)}: '{declared.get(n, 'VARCHAR')}'" for n in names)
    options = f", store_rejects = true, rejects_table = '{REJECTS}', rejects_scan = '{SCANS}'"
    return (
        "read_csv(?, header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        f"compression = '{compression or 'none'}', columns = {{{spec}}}{options if rejects else ''})"
    )


def _select(target: Target, bad: str) -> str:
    """The declared columns; a timestamp that does not parse becomes `bad`."""
    out = []
    for column, role in target.columns:
        name = duck.quote_identifier(column)
        epoch = epoch_sql(name, target.epoch_unit)
        cast = f"coalesce(TRY_CAST({name} AS {ROLE_TYPES[role][1]}), {epoch}, {bad})"
        out.append(f"CASE WHEN {name} IS NULL THEN NULL ELSE {cast} END" if role == "timestamp" else name)
    return ", ".join(out)


def stage_csv(conn: Any, target: Target, compression: str | None, skip_bad_lines: bool) -> Staged:
    names = _header(target, compression)
    error = f"error({duck.string_literal('a timestamp that does not parse')})"
    try:
        source = _source(target, compression, names, rejects=False)
        return target.insert(conn, _select(target, error), source, [str(target.path)]), 0, None, ()
    except duckdb.Error as exc:
        failure = exc
    for table in (REJECTS, SCANS):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    try:
        return _stage_bad_lines(conn, target, compression, names, skip_bad_lines, failure)
    except duckdb.Error as exc:
        raise target.error(exc) from exc
    finally:
        for table in (OBJECT, REJECTS, SCANS):
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def _stage_bad_lines(
    conn: Any,
    target: Target,
    compression: str | None,
    names: Sequence[str],
    skip_bad_lines: bool,
    failure: duckdb.Error,
) -> Staged:
    """The slow path: DuckDB's rejects (field counts, numbers), then the timestamps' bad lines."""
    source = _source(target, compression, names, rejects=True)
    conn.execute(f"CREATE TEMP TABLE {OBJECT} AS SELECT * FROM {source}", [str(target.path)])  # noqa: S608
    problems: dict[int, str] = {}
    for line, column, kind, message in conn.execute(
        f"SELECT line, column_name, error_type, error_message FROM {REJECTS} ORDER BY line, column_idx"  # noqa: S608 (constants)
    ).fetchall():
        problems.setdefault(line, (f"column {column!r}: " if kind == "CAST" else "") + message)
    for line, column, value in _bad_timestamps(conn, target, compression, names):
        found = json.dumps(value)
        problems.setdefault(line, f"column {column!r}: expected {EXPECTED['timestamp']}, found {found}")
    if not problems:  # DuckDB failed for a reason no line explains
        raise target.error(failure)
    first = min(problems)
    first_bad = f"object {target.uri}: line {first}: {problems[first]}"
    if not skip_bad_lines:
        raise IngestError(first_bad)
    stamps = [duck.quote_identifier(c) for c, role in target.columns if role == "timestamp"]
    parsed = " AND ".join(f"({c} IS NULL OR TRY_CAST({c} AS TIMESTAMPTZ) IS NOT NULL)" for c in stamps)
    rows = target.insert(conn, _select(target, "NULL"), f"{OBJECT} WHERE {parsed or 'true'}")
    return rows, len(problems), first_bad, ()


def _bad_timestamps(
    conn: Any, target: Target, compression: str | None, names: Sequence[str]
) -> list[tuple[int, str, str]]:
    """(physical line, column, value) of every declared timestamp that does not parse, in file order;
    lines with the wrong number of fields are left to DuckDB's rejects."""
    stamps = [(names.index(c), c) for c, role in target.columns if role == "timestamp"]
    lines, columns, values = [], [], []
    with target.open(compression) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline=""))
        next(reader, None)
        start = reader.line_num + 1  # a row's first physical line (a quoted field may span lines)
        for row in reader:
            if len(row) == len(names):
                for index, column in stamps:
                    if row[index] != "":
                        lines.append(start)
                        columns.append(column)
                        values.append(row[index])
            start = reader.line_num + 1
    table = pa.table({"line": pa.array(lines, pa.int64()), "name": columns, "value": values})
    conn.register(STAMPS, table)
    try:
        parsed = f"coalesce(TRY_CAST(value AS TIMESTAMPTZ), {epoch_sql('value', target.epoch_unit)})"
        return conn.execute(
            f"SELECT line, name, value FROM {STAMPS} WHERE {parsed} IS NULL ORDER BY line"  # noqa: S608 (constants)
        ).fetchall()
    finally:
        conn.unregister(STAMPS)
