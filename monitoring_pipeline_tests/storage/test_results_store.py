"""The results store on SQLite and on a real PostgreSQL: the migrated schema is the catalog's, writes are
upserts by key, a re-run replaces, and concurrent writers neither lose nor duplicate a row while an
analyst's session is open."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.results import VERSION_TABLE, ResultsStore, engine_for

HOUR = datetime(2026, 11, 20, 5, tzinfo=UTC)


def test_migrated_schema_is_the_catalog(results_url: str) -> None:
    store = ResultsStore(results_url)
    store.ensure_schema()
    with engine_for(store.url, write=False).connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, catalog.metadata) == []
        assert context.get_current_revision() is not None
        names = set(sa.inspect(conn).get_table_names())
    assert {t.name for t in catalog.RESULT_TABLES} | {VERSION_TABLE} == names


def test_upsert_replaces_by_key_and_keeps_utc_instants(results_url: str) -> None:
    store = ResultsStore(results_url)
    local = HOUR.astimezone(datetime.now().astimezone().tzinfo)  # the same instant, another zone
    store.upsert(catalog.hour_facts, [{"model": "m", "partition_hour": HOUR, "rows": 5, "objects": 1}])
    store.upsert(catalog.hour_facts, [{"model": "m", "partition_hour": local, "rows": 7, "objects": 2}])
    [row] = store.rows(sa.select(catalog.hour_facts))
    assert (row["rows"], row["objects"]) == (7, 2)
    assert row["partition_hour"] == HOUR and row["partition_hour"].utcoffset() == timedelta(0)


def test_the_same_key_twice_in_one_write_keeps_the_last(results_url: str) -> None:
    store = ResultsStore(results_url)
    row = {"model": "m", "partition_hour": HOUR}
    assert store.upsert(catalog.hour_facts, [row | {"rows": 1}, row | {"rows": 2}]) == 1
    assert [r["rows"] for r in store.rows(sa.select(catalog.hour_facts))] == [2]


def test_replace_makes_the_hour_exactly_the_new_rows(results_url: str) -> None:
    store = ResultsStore(results_url)
    key = {"model": "m", "partition_hour": HOUR}
    other = {"model": "m", "partition_hour": HOUR + timedelta(hours=1), "feature": "a"}
    store.upsert(catalog.drift_metrics, [other])
    store.replace(catalog.drift_metrics, key, [key | {"feature": f, "drifted": True} for f in "abc"])
    store.replace(catalog.drift_metrics, key, [key | {"feature": "b", "drifted": False}])
    t = catalog.drift_metrics
    rows = store.rows(sa.select(t.c.partition_hour, t.c.feature, t.c.drifted).order_by(t.c.partition_hour))
    assert [(r["partition_hour"], r["feature"], r["drifted"]) for r in rows] == [
        (HOUR, "b", False),
        (HOUR + timedelta(hours=1), "a", None),  # another hour is untouched
    ]


def test_an_older_evaluation_never_replaces_a_newer_one(results_url: str) -> None:
    store = ResultsStore(results_url)
    row = {"model": "m", "check_name": "c", "partition_hour": HOUR, "passed": True, "run_id": "new"}
    store.upsert(
        catalog.check_results, [row | {"evaluated_at": HOUR + timedelta(minutes=5)}], newer="evaluated_at"
    )
    late = row | {"passed": False, "run_id": "old", "evaluated_at": HOUR + timedelta(minutes=1)}
    store.upsert(catalog.check_results, [late], newer="evaluated_at")
    [stored] = store.rows(sa.select(catalog.check_results))
    assert (stored["passed"], stored["run_id"]) == (True, "new")


WRITER = """
import sys, time
from datetime import UTC, datetime, timedelta
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.results import ResultsStore
url, worker, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = ResultsStore(url)
base = datetime(2026, 11, 20, tzinfo=UTC)
took = []
for k in range(first, first + count):
    hour = base + timedelta(hours=k)
    key = {"model": "m", "partition_hour": hour}
    start = time.perf_counter()
    rows = [key | {"feature": f"f{i}", "score": worker} for i in range(20)]
    store.replace(catalog.drift_metrics, key, rows)
    with store.transaction() as conn:
        row = key | {"check_name": "c", "passed": True, "run_id": f"w{worker}-{k}",
                     "evaluated_at": datetime.now(UTC)}
        store.upsert(catalog.check_history, [row], conn=conn)
        store.upsert(catalog.check_results, [row], conn=conn, newer="evaluated_at")
    took.append(time.perf_counter() - start)
print(max(took))
"""

READER = """
import sys, time
from monitoring_pipeline.storage.warehouse import Warehouse
conn = Warehouse(sys.argv[1], sys.argv[2]).connect()
print("ready", flush=True)
queries = 0
while sys.stdin.readline().strip() != "stop":  # the session stays open between queries
    conn.execute("SELECT count(*) FROM main.drift_metrics").fetchone()
    queries += 1
    print(queries, flush=True)
"""


def _writers(url: str, env: dict) -> list[float]:
    """8 processes, each replacing 6 hours of which 3 overlap its neighbour's."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(w), str(3 * w), "6"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    slowest = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        slowest.append(float(out.strip().splitlines()[-1]))
    return slowest


def test_concurrent_writers_neither_lose_nor_duplicate_while_an_analyst_reads(
    results_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    ResultsStore(results_url).ensure_schema()
    (tmp_path / "objects").mkdir()
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, results_url, str(tmp_path / "objects")],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"  # open before the model's first row
        reader.stdin.write("go\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "1"
        start = time.perf_counter()
        slowest = _writers(results_url, env)
        elapsed = time.perf_counter() - start
        reader.stdin.write("go\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "2"  # the same session still reads, after the writes
    finally:
        reader.stdin.write("stop\n")
        reader.stdin.flush()
        reader.wait(timeout=60)
    store = ResultsStore(results_url)
    t, h = catalog.drift_metrics, catalog.check_history
    n = sa.func.count().label("n")
    per_hour = store.rows(sa.select(t.c.partition_hour, n).group_by(t.c.partition_hour))
    assert [r["n"] for r in per_hour] == [20] * 27  # hours 0..26, every one exact
    assert len(store.rows(sa.select(catalog.check_results))) == 27  # one latest result per (check, hour)
    assert len(store.rows(sa.select(h))) == 48  # every evaluation kept: 8 writers x 6 hours
    assert max(slowest) < 30, (slowest, elapsed)  # nobody waited on a lock for long
