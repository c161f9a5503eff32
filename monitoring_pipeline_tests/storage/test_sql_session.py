"""The analyst's SQL session: the catalog's views over the results store (SQLite and PostgreSQL) with their
types restored, and read-only for real: every way of writing, reading other files or changing the session
that worked on the old catalog file is refused with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.sql_session import ReadOnlyQueryError, query
from monitoring_pipeline.storage.warehouse import Warehouse

HOUR = datetime(2026, 11, 20, 5, tzinfo=UTC)


@pytest.fixture
def session(results_url: str, tmp_path: Path):
    wh = Warehouse(results_url, str(tmp_path / "warehouse"))
    wh.results.upsert(
        catalog.check_results,
        [{"model": "m", "check_name": "c", "partition_hour": HOUR, "passed": False, "observed": 0.5}],
    )
    wh.results.upsert(catalog.drift_summary, [{"model": "m", "partition_hour": HOUR, "drift_share": 0.25}])
    with wh.connect(["m"]) as conn:
        yield conn


def test_result_views_read_the_store_with_their_types(session) -> None:
    rows = query(session, "SELECT partition_hour, passed, observed FROM main.check_results").fetchall()
    assert rows == [(HOUR, False, 0.5)]
    types = dict(
        query(session, "SELECT column_name, column_type FROM (DESCRIBE main.check_results)").fetchall()
    )
    assert (types["partition_hour"], types["passed"]) == ("TIMESTAMP WITH TIME ZONE", "BOOLEAN")
    week = (
        "SELECT model, drift_share FROM main.drift_summary WHERE partition_hour >= TIMESTAMPTZ '2026-11-14'"
    )
    assert query(session, week).fetchall() == [("m", 0.25)]


REFUSED = {
    "COPY (SELECT 1) TO '{tmp}/out.csv'": "COPY",
    "EXPORT DATABASE '{tmp}/export'": "EXPORT",
    "ATTACH '{tmp}/other.duckdb' AS other (READ_WRITE)": "ATTACH",
    "INSTALL httpfs": "INSTALL",
    "LOAD httpfs": "LOAD",
    "PRAGMA version": "PRAGMA",
    "SET enable_external_access = true": "SET",
    "SELECT 1; SELECT 2": "one statement per call",
    "CREATE TABLE t AS SELECT 1": "CREATE",
    "DELETE FROM main.check_results": "DELETE",
}


@pytest.mark.parametrize("sql", sorted(REFUSED))
def test_anything_but_one_select_is_refused(session, sql: str, tmp_path: Path) -> None:
    with pytest.raises(ReadOnlyQueryError, match=REFUSED[sql]):
        query(session, sql.format(tmp=tmp_path))
    assert not list(tmp_path.glob("out.csv")) and not (tmp_path / "export").exists()


def test_files_outside_the_warehouse_cannot_be_read(session) -> None:
    with pytest.raises(duckdb.PermissionException, match="/etc/passwd"):
        query(session, "SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(duckdb.Error):  # the lock holds against a SELECT that tries to change it too
        session.execute("SET enable_external_access = true")


def test_a_session_defines_only_the_object_views_its_query_names(results_url: str, tmp_path: Path) -> None:
    """A week of drift_summary must not pay for listing a year of profile objects."""
    import pyarrow as pa

    wh = Warehouse(results_url, str(tmp_path / "warehouse"))
    wh.put_object(catalog.feature_profiles, "m", HOUR, pa.table({"feature": ["a"], "rows": [3]}))
    views = "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal"
    with wh.connect(["m"], "SELECT * FROM main.drift_summary") as conn:
        assert "main.feature_profiles" not in {v for (v,) in query(conn, views).fetchall()}
    with wh.connect(["m"], "SELECT rows FROM main.feature_profiles") as conn:
        assert query(conn, "SELECT rows FROM main.feature_profiles").fetchall() == [(3,)]


def test_secrets_stay_redacted(session, results_url: str) -> None:
    """The results store's password (PostgreSQL) and S3 keys live in DuckDB secrets: never shown."""
    shown = str(query(session, "SELECT * FROM duckdb_secrets()").fetchall())
    assert "not-a-real-secret" not in shown
    with pytest.raises(duckdb.Error, match="unredacted secrets is disabled"):
        query(session, "SELECT * FROM duckdb_secrets(redact = false)").fetchall()
    if results_url.startswith("postgresql"):
        assert "monitoring_results" in shown  # the secret exists, its value is not shown


BOUNDED = {  # query -> whether every reference of drift_summary is bounded below (pushed down on SQLite)
    "SELECT model, partition_hour FROM main.drift_summary WHERE partition_hour >= TIMESTAMPTZ '{t}'": True,
    "SELECT * FROM drift_summary s WHERE s.partition_hour > TIMESTAMPTZ '{t}' AND model = 'm1'": True,
    "SELECT * FROM drift_summary WHERE TIMESTAMPTZ '{t}' <= partition_hour": True,
    "SELECT count(*) FROM drift_summary "
    "WHERE partition_hour BETWEEN '{t}' AND '{t}'::TIMESTAMPTZ + INTERVAL 2 HOUR": True,
    "SELECT * FROM drift_summary WHERE partition_hour >= now() - INTERVAL 100000 DAY": True,
    "SELECT * FROM drift_summary d JOIN check_results c USING (model, partition_hour) "
    "WHERE d.partition_hour >= '{t}'": True,
    "SELECT * FROM drift_summary WHERE partition_hour >= '{t}' OR model = 'm0'": False,
    "SELECT * FROM drift_summary WHERE partition_hour <= '{t}'": False,
    "SELECT (SELECT count(*) FROM drift_summary), model FROM drift_summary "
    "WHERE partition_hour >= '{t}'": False,
    "WITH drift_summary AS (SELECT * FROM main.drift_summary) SELECT * FROM drift_summary "
    "WHERE partition_hour >= '{t}'": False,
    "SELECT * FROM drift_summary "
    "WHERE partition_hour >= (SELECT max(partition_hour) FROM check_results)": False,
    "SELECT model FROM drift_summary WHERE partition_hour >= '{t}' "
    "UNION ALL SELECT model FROM memory.main.drift_summary": False,
    "SELECT model FROM drift_summary WHERE partition_hour >= '{t}' "
    "UNION ALL SELECT model FROM query_table('drift_summary')": False,
}


@pytest.mark.parametrize("sql", sorted(BOUNDED))
def test_a_lower_bound_on_the_hour_is_read_by_index_and_changes_no_result(
    results_url: str, tmp_path: Path, sql: str
) -> None:
    """DuckDB's SQLite scanner pushes no filter down, so a query bounded below on `partition_hour` has its
    result views defined over just those rows (read through SQLite's index); the answer is the same as
    over the whole table, on both stores, and an unprovable bound reads the whole table."""
    wh = Warehouse(results_url, str(tmp_path / "warehouse"))
    hours = [HOUR + timedelta(hours=k) for k in range(-30, 30)]
    rows = [{"model": f"m{k % 3}", "partition_hour": h, "drift_share": k / 100} for k, h in enumerate(hours)]
    wh.results.upsert(catalog.drift_summary, rows)
    checks = [{"model": "m1", "check_name": "c", "partition_hour": h, "passed": True} for h in hours[::2]]
    wh.results.upsert(catalog.check_results, checks)
    text = sql.format(t=f"{HOUR:%Y-%m-%d %H:%M:%S}+00")
    with wh.connect([], text) as whole:
        expected = sorted(whole.execute(text).fetchall(), key=repr)  # the views as opened: whole tables
    with wh.connect([], text) as conn:
        assert sorted(query(conn, text).fetchall(), key=repr) == expected
        [(view,)] = conn.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'drift_summary'"
        ).fetchall()
    assert expected  # the cases select something
    assert ("sqlite_query" in view) == (BOUNDED[sql] and wh.results.is_sqlite), view


def test_a_bounded_view_keeps_rows_without_a_model(results_url: str, tmp_path: Path) -> None:
    """The bounded view walks the table model by model; an alert without a model is still there."""
    wh = Warehouse(results_url, str(tmp_path / "warehouse"))
    alerts = [
        {"alert_id": f"a{k}", "sink": "log", "model": model, "partition_hour": HOUR + timedelta(hours=k)}
        for k, model in enumerate([None, "m1", None, "m2", "m1"])
    ]
    wh.results.upsert(catalog.alerts, alerts)
    sql = f"SELECT alert_id FROM main.alerts WHERE partition_hour >= '{HOUR + timedelta(hours=1)}'"
    with wh.connect([], sql) as conn:
        assert sorted(r[0] for r in query(conn, sql).fetchall()) == ["a1", "a2", "a3", "a4"]
