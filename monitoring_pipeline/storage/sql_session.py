"""The SQL interface: an in-memory DuckDB session per analyst, read-only for real.

It attaches the results store read-only (DuckDB's sqlite or postgres scanner, shipped as PyPI packages like
httpfs) and defines the views analysts, Grafana and our tests use: `main.<result table>` for every result
table and `<model>.<object table>` over each model's per-hour objects. Nothing is written anywhere, so a
session held open for hours never slows a run.

Then it is locked: file access only under the warehouse's own root (no `read_csv('/etc/passwd')`), no
extension installs or loads, and the configuration itself locked. `query` takes exactly one SELECT (or
WITH ... SELECT) statement and refuses everything else (COPY, EXPORT, ATTACH, INSTALL, LOAD, PRAGMA, SET,
several statements) with a clear error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import sqlalchemy as sa

from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.hour_floor import hour_floors

if TYPE_CHECKING:
    from monitoring_pipeline.storage.warehouse import Warehouse

RESULTS = "results"  # the attached results store's name inside a session
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's text form of a DATETIME in SQLite


class ReadOnlyQueryError(ValueError):
    """The statement is not one read-only query."""


def attach_results(conn: Any, url: str) -> None:
    """Attach the results store as `results`, read-only; a PostgreSQL password goes through a secret."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        duck.load_extension(conn, "sqlite_scanner")
        conn.execute(f"ATTACH {duck.string_literal(str(path))} AS {RESULTS} (TYPE sqlite, READ_ONLY)")
        return
    parsed = sa.engine.make_url(url)
    duck.load_extension(conn, "postgres_scanner")
    conn.execute(
        "CREATE OR REPLACE TEMPORARY SECRET monitoring_results (TYPE postgres, HOST ?, PORT ?, DATABASE ?, "
        "USER ?, PASSWORD ?)",
        [parsed.host or "localhost", str(parsed.port or 5432), parsed.database or "", parsed.username or "",
         parsed.password or ""],
    )  # fmt: skip
    conn.execute(f"ATTACH '' AS {RESULTS} (TYPE postgres, SECRET monitoring_results, READ_ONLY)")


def _column_sql(column: sa.Column, sqlite: bool) -> str:
    name = duck.quote_identifier(column.name)
    if not sqlite:
        return name
    if isinstance(column.type, catalog.UTCDateTime):
        return f"CAST({name} AS TIMESTAMPTZ) AS {name}"  # SQLite keeps naive UTC; the session is UTC
    if isinstance(column.type, sa.Boolean):
        return f"CAST({name} AS BOOLEAN) AS {name}"
    return name


def result_view_sql(
    table: sa.Table, sqlite: bool, floor: datetime | None = None, types: dict[str, str] | None = None
) -> str:
    """`main.<table>` over the attached results store, with SQLite's types restored; with `floor` (SQLite
    only, see storage.hour_floor), only its rows from that partition hour on, read by SQLite's index, each
    column cast to the scanner's `types` (`sqlite_query` types what it returns from the values)."""
    source = f"{RESULTS}.{duck.quote_identifier(table.name)}"
    if floor is not None:
        assert types is not None
        inner = _rows_from_sql(duck.quote_identifier(table.name))
        text = floor.astimezone(UTC).strftime(SQLITE_DATETIME)  # as SQLAlchemy stores it: text compares
        casts = ", ".join(
            f"CAST({duck.quote_identifier(c.name)} AS {types[c.name]}) AS {duck.quote_identifier(c.name)}"
            for c in table.columns
        )
        scan = f"sqlite_query({duck.string_literal(RESULTS)}, {duck.string_literal(inner)}, "
        scan += f"params = row({duck.string_literal(text)}))"
        source = f"(SELECT {casts} FROM {scan})"  # noqa: S608 (quoted identifiers, DuckDB's own type names)
    return (
        f"CREATE OR REPLACE VIEW main.{duck.quote_identifier(table.name)} AS SELECT "  # noqa: S608 (quoted identifiers from the catalog)
        + ", ".join(_column_sql(c, sqlite) for c in table.columns)
        + f" FROM {source}"
    )


def _rows_from_sql(table: str) -> str:
    """SQLite's query for a table's rows from partition hour ?1 on, by index whatever the table: every result
    table's indexes lead with (model, partition_hour), so the models are walked one index seek each (a
    recursive loose index scan: SQLite keeps no statistics to skip-scan by itself), then each model's
    hours read as one range; rows without a model (alerts may have none) are added."""
    return (
        f"WITH RECURSIVE m(model) AS (SELECT min(model) FROM {table} UNION ALL "  # noqa: S608 (a quoted identifier from the catalog)
        f"SELECT (SELECT min(model) FROM {table} WHERE model > m.model) FROM m WHERE m.model IS NOT NULL) "
        f"SELECT t.* FROM m CROSS JOIN {table} t WHERE t.model = m.model AND t.partition_hour >= ?1 "
        f"UNION ALL SELECT * FROM {table} WHERE model IS NULL AND partition_hour >= ?1"
    )


def result_views_sql(sqlite: bool) -> list[str]:
    return [result_view_sql(t, sqlite) for t in catalog.RESULT_TABLES]


def open_session(wh: Warehouse, models: Sequence[str] = (), for_query: str | None = None) -> Any:
    """A locked, read-only session over the warehouse (see the module's docstring). With `for_query`, only
    the object views that query names are defined: a view over an object table lists the table's whole
    history, which a query over the results store (drift_summary for a week) must not pay for."""
    wh.results.ensure_schema()
    conn = duck.connect(s3=wh.on_s3)
    attach_results(conn, wh.results.url)
    for sql in result_views_sql(wh.results.is_sqlite):
        conn.execute(sql)
    named = {t.lower() for t in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", for_query)} if for_query else None
    for table in catalog.OBJECT_TABLES:
        if named is not None and table.name not in named:
            continue
        for model in models if table.per_model_view else ["*"]:
            schema = model if table.per_model_view else "main"
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {duck.quote_identifier(schema)}")
            _object_view(conn, schema, table.name, f"{wh.tables_root}/{table.analyst_glob(model)}")
    root = wh.tables_root if wh.tables_root.startswith("s3://") else str(Path(wh.tables_root).resolve())
    conn.execute("SET allowed_directories = ?", [[root.rstrip("/") + "/"]])
    for setting in (
        "enable_external_access = false",
        "autoinstall_known_extensions = false",
        "autoload_known_extensions = false",
        "allow_community_extensions = false",
        "lock_configuration = true",
    ):
        conn.execute(f"SET {setting}")
    return conn


def _bound_result_views(conn: Any, sql: str) -> None:
    """On SQLite, (re)define the result views for this query: those it reads only from a known partition
    hour on over just those rows (storage.hour_floor), the others whole. DuckDB's SQLite scanner pushes no
    filter down, and a week's query must not read a year. Runs in the locked session, after the query was
    found read-only."""
    [(kind,)] = conn.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = ?", [RESULTS]
    ).fetchall()
    if kind != "sqlite":
        return  # PostgreSQL's scanner pushes filters down itself
    tables = {t.name: t for t in catalog.RESULT_TABLES if "partition_hour" in t.c}
    floors = hour_floors(conn, sql, set(tables))
    for name, table in tables.items():
        types = None
        if name in floors:
            described = conn.execute(f"DESCRIBE {RESULTS}.{duck.quote_identifier(name)}").fetchall()
            types = {row[0]: row[1] for row in described}
        conn.execute(result_view_sql(table, sqlite=True, floor=floors.get(name), types=types))


def _first_word(sql: str) -> str:
    """The statement's first word, comments skipped (DuckDB rewrites `PRAGMA x` as a SELECT)."""
    starts = [pos for pos, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    if not starts:
        return ""
    end = starts[1] if len(starts) > 1 else len(sql)
    return sql[starts[0] : end].strip().upper()


def _object_view(conn: Any, schema: str, name: str, glob: str) -> None:
    """A view over every object of a table. Bound from the first object's schema only (`union_by_name`
    would open every footer of the history each time a session starts)."""
    try:
        conn.execute(
            f"CREATE VIEW {duck.quote_identifier(schema)}.{duck.quote_identifier(name)} AS "  # noqa: S608 (quoted identifiers, escaped literal)
            f"SELECT * FROM read_parquet({duck.string_literal(glob)}, hive_partitioning = false)"
        )
    except duckdb.IOException as exc:
        if "No files found" not in str(exc):
            raise  # an unreachable or forbidden store is an error, not an empty table


def check_read_only(conn: Any, sql: str) -> str:
    """The one SELECT statement in `sql`, or ReadOnlyQueryError saying why not."""
    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as exc:
        raise ReadOnlyQueryError(f"cannot parse the query: {exc}") from exc
    if len(statements) != 1:
        raise ReadOnlyQueryError(f"one statement per call, got {len(statements)}")
    [statement] = statements
    word = _first_word(sql)
    if str(statement.type) != "StatementType.SELECT" or word not in ("SELECT", "WITH", "FROM", "("):
        raise ReadOnlyQueryError(f"only SELECT (or WITH ... SELECT) queries are allowed, not {word}")
    return statement.query


def query(conn: Any, sql: str) -> Any:
    """Run one read-only query in a locked session; return DuckDB's relation (consume it before the next
    `query` on the session: on SQLite each call defines the result views for its own query)."""
    statement = check_read_only(conn, sql)
    _bound_result_views(conn, sql)
    return conn.sql(statement)
