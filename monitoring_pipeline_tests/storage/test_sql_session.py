"""The analyst's SQL session: the catalog's views over the results store (SQLite and PostgreSQL) with their
types restored, and read-only for real: every way of writing, reading other files or changing the session
that worked on the old catalog file is refused with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime
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
