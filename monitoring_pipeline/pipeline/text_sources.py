"""JSON lines objects, staged with every declared value checked, never silently NULL.

The clean path is one DuckDB scan. Only when it fails (a malformed line, a value of the wrong kind) is the
object read again, slowly, to find the exact physical line numbers (blank lines count): to name the first
bad line, or to skip and count the bad lines when the model allows it.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from monitoring_pipeline.pipeline.column_types import IngestError
from monitoring_pipeline.pipeline.staging import Target, epoch_sql
from monitoring_pipeline.storage import duck

EXPECTED = {  # what a JSON value of each role must be, for error messages
    "numerical": "a number",
    "categorical": "a string, number or boolean",
    "id": "a string, number or boolean",
    "timestamp": "an ISO-8601 timestamp string",
}
NUMBER_START = "('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')"
OBJECT, LINES, CHECKED = "_reader_object", "_reader_lines", "_reader_checked"
SHOWN = 80  # characters of a bad value quoted in an error

# (rows inserted, bad lines skipped, first bad line's description, declared columns absent from every line)
Staged = tuple[int, int, str | None, tuple[str, ...]]


def json_cast(value: str, role: str, bad: str, epoch_unit: str | None = None) -> str:
    """SQL casting a JSON value to the role's canonical type: absent or JSON null -> NULL; a value of the
    wrong kind -> `bad` (error(...) on the fast path, NULL where bad values are being found).
    Numbers: JSON numbers and numeric strings; labels: strings, numbers, booleans (as their JSON text);
    timestamps: ISO-8601 strings, naive ones in UTC (the connection's time zone), and with `epoch_unit`
    numbers since the epoch."""
    text = f"CAST({value} AS VARCHAR)"
    head = f"{text}[1]"
    inner = f"({value} ->> '$')"
    null = f"WHEN {value} IS NULL OR {text} = 'null' THEN NULL"
    if role == "numerical":
        number = f"coalesce(TRY_CAST({text} AS DOUBLE), {bad})"
        quoted = f"coalesce(TRY_CAST({inner} AS DOUBLE), {bad})"
        branches = f"WHEN {head} IN {NUMBER_START} THEN {number} WHEN {head} = '\"' THEN {quoted}"
        return f"CASE {null} {branches} ELSE {bad} END"
    if role == "timestamp":
        stamp = f"coalesce(TRY_CAST({inner} AS TIMESTAMPTZ), {bad})"
        epoch = f"WHEN {head} IN {NUMBER_START} THEN coalesce({epoch_sql(text, epoch_unit)}, {bad}) "
        return f"CASE {null} WHEN {head} = '\"' THEN {stamp} {epoch if epoch_unit else ''}ELSE {bad} END"
    plain = f"{head} = '\"' AND NOT contains({text}, '\\')"  # no escapes: just strip the quotes
    return (
        f"CASE {null} WHEN {plain} THEN {text}[2:-2] WHEN {head} IN ('{{', '[') THEN {bad} ELSE {inner} END"
    )


def _json_source(target: Target, compression: str | None) -> tuple[str, list[str]]:
    """read_json of the declared columns' top-level keys as JSON, and each declared column's value."""
    roots = list(dict.fromkeys(c.split(".")[0] for c, _ in target.columns))
    spec = ", ".join(f"{duck.string_literal(r)}: 'JSON'" for r in roots)
    source = (
        "read_json(?, format = 'newline_delimited', "
        f"compression = '{compression or 'uncompressed'}', columns = {{{spec}}})"
    )
    values = []
    for column, _ in target.columns:
        root, *rest = column.split(".")
        path = duck.string_literal("$." + ".".join(rest))
        top = duck.quote_identifier(root)
        values.append(top if not rest else f"json_extract({top}, {path})")
    return source, values


def stage_json(conn: Any, target: Target, compression: str | None, skip_bad_lines: bool) -> Staged:
    source, values = _json_source(target, compression)
    casts = []
    for i, ((column, role), value) in enumerate(zip(target.columns, values, strict=True)):
        bad = f"error({duck.string_literal(f'column {column!r}: not {EXPECTED[role]}')})"
        casts.append(f"{json_cast(value, role, bad, target.epoch_unit)} AS c{i}")
    try:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {OBJECT} AS SELECT {', '.join(casts)} FROM {source}",  # noqa: S608 (quoted names, constants)
            [str(target.path)],
        )
    except duckdb.Error as exc:
        return _stage_json_lines(conn, target, compression, skip_bad_lines, exc)
    try:
        counts = conn.execute(
            f"SELECT {', '.join(f'count(c{i})' for i in range(len(casts)))} FROM {OBJECT}"  # noqa: S608 (quoted names, constants)
        ).fetchone()
        empty = [i for i, n in enumerate(counts) if n == 0]  # all NULL: absent, or present as JSON null?
        if empty:  # read_json gives both as NULL; json_extract gives JSON null as 'null'
            paths = [duck.string_literal("$." + target.columns[i][0]) for i in empty]
            present = ", ".join(f"count(json_extract(json, {p}))" for p in paths)
            objects = f"read_ndjson_objects(?, compression = '{compression or 'uncompressed'}')"
            found = conn.execute(f"SELECT {present} FROM {objects}", [str(target.path)]).fetchone()  # noqa: S608 (quoted names, constants)
            empty = [i for i, n in zip(empty, found, strict=True) if n == 0]
        rows = target.insert(conn, ", ".join(f"c{i}" for i in range(len(casts))), OBJECT)
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {OBJECT}")
    return rows, 0, None, tuple(target.columns[i][0] for i in empty)


def _read_lines(target: Target, compression: str | None) -> tuple[pa.Table, list[int]]:
    """The object's non-blank lines with their 1-based physical numbers; and the lines not UTF-8."""
    numbers, texts, not_utf8 = [], [], []
    with target.open(compression) as lines:
        for number, raw in enumerate(lines, 1):
            if raw.strip():
                try:
                    texts.append(raw.decode("utf-8"))
                    numbers.append(number)
                except UnicodeDecodeError:
                    not_utf8.append(number)
    return pa.table({"n": pa.array(numbers, pa.int64()), "text": pa.array(texts, pa.string())}), not_utf8


def _stage_json_lines(
    conn: Any, target: Target, compression: str | None, skip_bad_lines: bool, failure: duckdb.Error
) -> Staged:
    """The slow path: every line checked on its own, with its number."""
    lines, not_utf8 = _read_lines(target, compression)
    k = len(target.columns)
    paths = [duck.string_literal("$." + c) for c, _ in target.columns]
    raw = ", ".join(f"CASE WHEN obj THEN json_extract(text, {p}) END AS p{i}" for i, p in enumerate(paths))
    casts = ", ".join(
        f"{json_cast(f'p{i}', role, 'NULL', target.epoch_unit)} AS c{i}"
        for i, (_, role) in enumerate(target.columns)
    )
    wrong = " ".join(
        f"WHEN p{i} IS NOT NULL AND CAST(p{i} AS VARCHAR) <> 'null' AND c{i} IS NULL THEN {i}"
        for i in range(k)
    )
    conn.register(LINES, lines)
    try:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {CHECKED} AS "  # noqa: S608 (quoted names, constants)
            f"SELECT *, NOT obj OR bad_column IS NOT NULL AS bad FROM ("
            f"SELECT *, CASE {wrong} END AS bad_column FROM ("
            f"SELECT *, {casts} FROM ("
            f"SELECT *, {raw} FROM (SELECT *, "
            f"valid AND json_type(CASE WHEN valid THEN text END) = 'OBJECT' AS obj FROM ("
            f"SELECT n, text, json_valid(text) AS valid FROM {LINES})))))"
        )
        return _checked_result(conn, target, skip_bad_lines, failure, not_utf8)
    finally:
        conn.unregister(LINES)
        conn.execute(f"DROP TABLE IF EXISTS {CHECKED}")


def _checked_result(
    conn: Any, target: Target, skip_bad_lines: bool, failure: duckdb.Error, not_utf8: list[int]
) -> Staged:
    k = len(target.columns)
    bad = conn.execute(f"SELECT count(*) FROM {CHECKED} WHERE bad").fetchone()[0] + len(not_utf8)  # noqa: S608 (quoted names, constants)
    if bad == 0:  # DuckDB failed for a reason no line explains
        raise target.error(failure)
    first = conn.execute(
        f"SELECT n, text, valid, obj, bad_column, [{', '.join(f'CAST(p{i} AS VARCHAR)' for i in range(k))}] "  # noqa: S608 (quoted names, constants)
        f"FROM {CHECKED} WHERE bad ORDER BY n LIMIT 1"
    ).fetchone()
    if first is None or (not_utf8 and not_utf8[0] < first[0]):
        problem = f"line {not_utf8[0]}: not valid UTF-8"
    else:
        problem = _json_problem(conn, target, *first)
    first_bad = f"object {target.uri}: {problem}"
    if not skip_bad_lines:
        raise IngestError(first_bad)
    counts = conn.execute(f"SELECT {', '.join(f'count(p{i})' for i in range(k))} FROM {CHECKED}").fetchone()  # noqa: S608 (quoted names, constants)
    good = f"{CHECKED} WHERE NOT bad ORDER BY n"
    rows = target.insert(conn, ", ".join(f"c{i}" for i in range(k)), good)
    return rows, bad, first_bad, tuple(c for (c, _), n in zip(target.columns, counts, strict=True) if n == 0)


def _json_problem(
    conn: Any, target: Target, n: int, text: str, valid: bool, obj: bool, column: int | None, found: list[str]
) -> str:
    """What is wrong with one bad line, in words."""
    if not valid:
        try:
            conn.execute("SELECT json(?)", [text])
            reason = "rejected by DuckDB's JSON reader"
        except duckdb.Error as exc:
            reason = str(exc).split("  Input:")[0].strip()
        return f"line {n}: not valid JSON ({reason})"
    if not obj:
        kind = conn.execute("SELECT json_type(?)", [text]).fetchone()[0]
        return f"line {n}: not a JSON object (found {kind})"
    name, role = target.columns[column]
    value = found[column] if len(found[column]) <= SHOWN else found[column][:SHOWN] + "..."
    return f"line {n}: column {name!r}: expected {EXPECTED[role]}, found {value}"
