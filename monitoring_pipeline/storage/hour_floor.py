"""The earliest `partition_hour` an analyst's query can read from each result table (no Dagster here).

DuckDB's SQLite scanner pushes no filter down: `main.drift_summary WHERE partition_hour >= now() - 7 days`
reads the whole table, so on the default SQLite results store an analyst's query would cost more with
every hour of history. The session therefore reads the query's parse tree (`json_serialize_sql`) and, for
each result table every one of whose references is filtered by a lower bound on its `partition_hour`
(`>=`, `>`, `=`, `BETWEEN`, a top-level `AND` conjunct whose other side references no column), defines
that table's view over only the rows from the lowest such bound on, read through SQLite's index. The
query itself still applies its own filter, so the view only has to hold a superset of what it selects:
a bound that cannot be proven (an `OR`, a filter in a join condition, an unqualified column among several
tables, a CTE named like a table, a table function or a string spelling a table's name, a reference
through another catalog, anything unparsed) means no bound, and the whole table is read as before.
`now()` is evaluated before the query runs, so a bound computed from it is never later than the query's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb

COLUMN = "partition_hour"
LOWER = {"COMPARE_GREATERTHANOREQUALTO", "COMPARE_GREATERTHAN", "COMPARE_EQUAL"}
FLIPPED = {"COMPARE_LESSTHANOREQUALTO", "COMPARE_LESSTHAN", "COMPARE_EQUAL"}  # const <= column


def hour_floors(conn: Any, sql: str, tables: set[str]) -> dict[str, datetime]:
    """{result table: the earliest partition_hour the query can read from it} for the `tables` it names
    whose every reference is bounded below; tables it cannot bound are absent."""
    try:
        tree = json.loads(conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    except duckdb.Error:
        return {}
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        return {}
    references: dict[str, int] = {}
    floors: dict[str, list[datetime]] = {}
    ctes: set[str] = set()
    for node in _nodes(tree):
        if node.get("type") == "TABLE_FUNCTION" or _names_a_table(node, tables):
            return {}  # query_table('drift_summary') and the like read a view by a name we cannot follow
        if node.get("type") == "BASE_TABLE" and (name := str(node.get("table_name", "")).lower()) in tables:
            references[name] = references.get(name, 0) + 1  # any schema or catalog: only plain ones bound
        for entry in (node.get("cte_map") or {}).get("map", []):
            ctes.add(str(entry.get("key", "")).lower())
        if node.get("type") == "SELECT_NODE":
            for name, floor in _select_floors(conn, node, tables):
                floors.setdefault(name, []).append(floor)
    return {
        name: min(found)
        for name, found in floors.items()
        if name not in ctes and len(found) == references.get(name, 0)
    }


def _names_a_table(node: dict[str, Any], tables: set[str]) -> bool:
    """A string constant spelling a result table's name."""
    value = node.get("value") if node.get("class") == "CONSTANT" else None
    return isinstance(value, dict) and str(value.get("value", "")).lower() in tables


def _nodes(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, dict):
        yield obj
        for value in obj.values():
            yield from _nodes(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _nodes(value)


def _result_table(node: dict[str, Any], tables: set[str]) -> str | None:
    name = str(node.get("table_name", "")).lower()
    schema = str(node.get("schema_name", "")).lower()
    if name in tables and schema in ("", "main") and not node.get("catalog_name"):
        return name
    return None


def _from_tables(table: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The relations of a FROM clause, through its joins (not into subqueries)."""
    if not table:
        return []
    if table.get("type") == "JOIN":
        return _from_tables(table.get("left")) + _from_tables(table.get("right"))
    return [table]


def _conjuncts(expr: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not expr:
        return []
    if expr.get("type") == "CONJUNCTION_AND":
        return [c for child in expr.get("children", []) for c in _conjuncts(child)]
    return [expr]


def _select_floors(conn: Any, node: dict[str, Any], tables: set[str]) -> Iterator[tuple[str, datetime]]:
    """(table, floor) for each reference of a result table in this SELECT's FROM that its WHERE bounds."""
    relations = _from_tables(node.get("from_table"))
    by_alias: dict[str, str] = {}
    for relation in relations:
        if relation.get("type") == "BASE_TABLE" and (name := _result_table(relation, tables)):
            by_alias[str(relation.get("alias") or name).lower()] = name
    if not by_alias:
        return
    best: dict[str, datetime] = {}
    for conjunct in _conjuncts(node.get("where_clause")):
        bound = _bound(conjunct)
        if bound is None:
            continue
        column, expr = bound
        if len(column) == 2:
            name = by_alias.get(column[0].lower())
        else:  # unqualified: only when the FROM holds this one relation
            name = next(iter(by_alias.values())) if len(relations) == 1 else None
        value = _evaluate(conn, expr) if name else None
        if name and value is not None:
            best[name] = max(value, best.get(name, value))  # every conjunct holds: the tightest
    named = list(by_alias.values())
    for name in set(named):
        if name in best and named.count(name) == 1:  # the same table twice in one FROM: not told apart
            yield name, best[name]


def _bound(expr: dict[str, Any]) -> tuple[list[str], dict[str, Any]] | None:
    """(the partition_hour column reference, the expression bounding it from below) of a conjunct."""
    kind = expr.get("type")
    if expr.get("class") == "BETWEEN":
        column, lower = expr.get("input"), expr.get("lower")
    elif expr.get("class") == "COMPARISON" and kind in LOWER and _is_column(expr.get("left")):
        column, lower = expr.get("left"), expr.get("right")
    elif expr.get("class") == "COMPARISON" and kind in FLIPPED and _is_column(expr.get("right")):
        column, lower = expr.get("right"), expr.get("left")
    else:
        return None
    if not _is_column(column) or not isinstance(lower, dict) or _references_data(lower):
        return None
    return [str(n) for n in column["column_names"]], lower


def _is_column(expr: Any) -> bool:
    if not isinstance(expr, dict) or expr.get("class") != "COLUMN_REF":
        return False
    names = expr.get("column_names", [])
    return 1 <= len(names) <= 2 and str(names[-1]).lower() == COLUMN


def _references_data(expr: dict[str, Any]) -> bool:
    return any(n.get("class") in ("COLUMN_REF", "SUBQUERY", "STAR") for n in _nodes(expr))


def _evaluate(conn: Any, expr: dict[str, Any]) -> datetime | None:
    """The bound's value as a UTC instant, evaluated in the session (its time zone, its clock)."""
    try:
        shell = json.loads(conn.execute("SELECT json_serialize_sql('SELECT NULL')").fetchone()[0])
        shell["statements"][0]["node"]["select_list"] = [expr]
        text = conn.execute("SELECT json_deserialize_sql(?)", [json.dumps(shell)]).fetchone()[0]
        [(value,)] = conn.execute(f"SELECT CAST(v AS TIMESTAMPTZ) FROM ({text}) AS t(v)").fetchall()  # noqa: S608 (DuckDB's own rendering of the query's constant)
    except (duckdb.Error, KeyError, IndexError, TypeError, ValueError):
        return None
    return value.astimezone(UTC) if isinstance(value, datetime) else None
