"""Eight processes replace overlapping hours of one model at once, while an analyst holds a read-only SQL
session opened before the model's first load and the Prometheus collection ticks. Pairwise over the two
axes: results in SQLite with objects on the local store, results in a real PostgreSQL with logs and
objects on S3 (moto's server). Every run must succeed, rows per hour be exact, one latest result be kept
per (check, hour), and no step be slowed more than 2x by the reader."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline_tests.conftest import HOURS, open_stores, source_rows, write_config
from monitoring_pipeline_tests.helpers import key, query, warehouse_rows
from monitoring_pipeline_tests.postgres import Postgres, running_postgres

pytestmark = pytest.mark.integration
MODEL = "fraud_classifier"

READER = """
import sys
from monitoring_pipeline.config import load_config
from monitoring_pipeline.publish.prometheus import collect
from monitoring_pipeline.storage.warehouse import Warehouse
config = load_config(sys.argv[1])
wh = Warehouse.open(config.warehouse)
conn = wh.connect([m.name for m in config.models])  # opened before the model's first row exists
print("ready", flush=True)
queries = 0
while sys.stdin.readline().strip() != "stop":  # the session stays open; each line asks for one more round
    conn.execute("SELECT count(*) FROM main.check_results").fetchone()
    collect(config, wh)  # what the prometheus_textfile sensor does every minute
    queries += 1
    print(queries, flush=True)
print(conn.execute("SELECT sum(rows) FROM main.hour_facts").fetchone()[0], flush=True)
"""

WORKER = """
import sys, time
import dagster as dg
from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.assets import prediction_logs_asset
from monitoring_pipeline.defs.asset_checks import prediction_logs_checks
from monitoring_pipeline.defs.resources.object_store import ObjectStoreResource
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
model = load_config().model("fraud_classifier")
fast = {"schema_matches", "hour_is_not_empty", "volume_within_band"}  # the checks that read results rows
checks = [c for c in prediction_logs_checks(model) if {k.name for k in c.check_keys} <= fast]
resources = {
    "warehouse": WarehouseResource.from_config(load_config().warehouse), "object_store": ObjectStoreResource()
}
with dg.DagsterInstance.get() as instance:
    for partition in sys.argv[1:]:
        start = time.perf_counter()
        assets = [prediction_logs_asset(model), *checks]
        run = dg.materialize(assets, partition_key=partition, instance=instance, resources=resources)
        assert run.success
        print("took", time.perf_counter() - start, flush=True)
"""


def run_workers(env: dict, hours: list) -> list[subprocess.CompletedProcess]:
    """Eight processes, worker i materializing hours i and i+1: every hour is replaced by two of them."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, key(hours[i]), key(hours[i + 1])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(8)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600), p.stdout.read()) for p in procs]


def step_times(results: list[subprocess.CompletedProcess]) -> list[float]:
    for result in results:
        assert result.returncode == 0, result.stdout[-3000:]
        assert "lock" not in result.stdout.lower(), result.stdout[-3000:]
    return [
        float(line.split()[1]) for r in results for line in r.stdout.splitlines() if line.startswith("took")
    ]


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with running_postgres("results") as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def setup(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict, MonitorsConfig]:
    stores = open_stores("local" if request.param == "sqlite" else "s3", request, tmp_path, monkeypatch)
    config_path = write_config(tmp_path, stores.demo, data=stores.data, labels="")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Dagster's own SQLite storage is created once, as `dagster dev` or the daemon does before any run:
    # brand-new processes creating it at the same moment race in Dagster's own schema migration.
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    env = {**os.environ, "MONITORING_CONFIG": str(config_path), "DAGSTER_HOME": str(dagster_home)}
    if request.param == "postgres":
        server = request.getfixturevalue("postgres")
        env["MONITORING_RESULTS"] = server.url(password="never-logged")
        os.environ["MONITORING_RESULTS"] = env["MONITORING_RESULTS"]
        request.addfinalizer(lambda: os.environ.pop("MONITORING_RESULTS", None))
    return env, load_config(config_path)


def test_eight_processes_replace_overlapping_hours_while_an_analyst_reads(
    setup: tuple[dict, MonitorsConfig], demo_logs: Path
) -> None:
    env, config = setup
    alone = step_times(run_workers(env, HOURS[0:9]))  # the same work with nobody reading
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(config.path)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        reader.stdin.write("go\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "1"
        hours = HOURS[10:19]
        results = run_workers(env, hours)
        reader.stdin.write("go\nstop\n")
        reader.stdin.flush()
        out, _ = reader.communicate(timeout=120)
    finally:
        reader.kill()
    with_reader = step_times(results)
    assert reader.returncode == 0
    queries, seen = out.split()
    assert queries == "2"  # the session opened before the first load still reads after it
    everything = [*HOURS[0:9], *hours]
    expected = {h: source_rows(demo_logs, MODEL, h) for h in everything}
    assert int(seen) == sum(expected.values())
    loaded = warehouse_rows(config, MODEL)
    assert {h: loaded.get(h, 0) for h in everything} == expected  # rows per hour exact, none duplicated
    latest = query(
        config,
        "SELECT check_name, partition_hour, count(*) FROM main.check_results "
        "GROUP BY 1, 2 HAVING count(*) > 1",
    )
    assert latest == []  # one latest result per (check, hour)
    history = query(
        config, "SELECT count(DISTINCT run_id) FROM main.check_history WHERE partition_hour = ?", [hours[4]]
    )
    assert history == [(2,)]  # both runs that replaced the hour kept their evaluation
    assert statistics.median(with_reader) <= 2 * statistics.median(alone), (alone, with_reader)
