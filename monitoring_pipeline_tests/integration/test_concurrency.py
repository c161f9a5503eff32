"""Four processes materialize eight hours at once, with and without an analyst holding a read-only
session on the warehouse catalog. DuckDB allows one writer per database file; our runs never
write to a shared DuckDB file, so none of them may fail on a lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline_tests.conftest import HOURS, source_rows, write_config
from monitoring_pipeline_tests.helpers import key, materialize_logs, warehouse_rows

pytestmark = pytest.mark.integration
MODEL = "fraud_classifier"

READER = """
import os, sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
query = "SELECT count(*) FROM fraud_classifier.prediction_logs"
print("ready", flush=True)
queries = 0
while not os.path.exists(sys.argv[2]):  # keep the session open and busy until told to stop
    conn.execute(query).fetchone()
    queries += 1
    time.sleep(0.05)
print(queries, conn.execute(query).fetchone()[0], flush=True)
"""


WORKER = """
import sys
import dagster as dg
from monitoring_pipeline.definitions import defs
asset = defs.resolve_assets_def(dg.AssetKey(["fraud_classifier", "prediction_logs"]))
with dg.DagsterInstance.get() as instance:
    for partition in sys.argv[1:]:
        assert dg.materialize([asset], partition_key=partition, instance=instance).success
"""


def run_workers(config_path: Path, dagster_home: Path, hours: list) -> list[subprocess.CompletedProcess]:
    """Four processes, each materializing two hours on the shared Dagster instance, all at once."""
    env = {**os.environ, "MONITORING_CONFIG": str(config_path), "DAGSTER_HOME": str(dagster_home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, key(hours[i]), key(hours[i + 1])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(0, 8, 2)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), p.stdout.read()) for p in procs]


@pytest.fixture
def setup(tmp_path: Path, demo_logs: Path) -> tuple[Path, Path, MonitorsConfig]:
    config_path = write_config(tmp_path, str(demo_logs))
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Storage is created once, as `dagster dev` or the daemon does before any run: four CLI processes
    # creating a fresh SQLite instance at the same moment race in Dagster's own schema migration.
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    return config_path, dagster_home, load_config(config_path)


def assert_all_loaded(
    results: list[subprocess.CompletedProcess], config: MonitorsConfig, demo_logs: Path, hours: list
) -> None:
    for result in results:
        assert result.returncode == 0, result.stdout[-3000:]
        assert "lock" not in result.stdout.lower(), result.stdout[-3000:]
    expected = {h: source_rows(demo_logs, MODEL, h) for h in hours}
    loaded = warehouse_rows(config, MODEL)
    assert {h: loaded.get(h, 0) for h in hours} == expected


def test_four_processes_eight_hours(setup: tuple, demo_logs: Path) -> None:
    config_path, dagster_home, config = setup
    hours = HOURS[8:16]
    assert not Path(config.warehouse.catalog_path).exists()  # they also race to create the catalog
    assert_all_loaded(run_workers(config_path, dagster_home, hours), config, demo_logs, hours)


def test_four_processes_while_an_analyst_holds_the_catalog(setup: tuple, demo_logs: Path) -> None:
    config_path, dagster_home, config = setup
    materialize_logs(config, MODEL, HOURS[0])  # the catalog exists before the analyst opens it
    stop = config.path.parent / "stop-reader"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, config.warehouse.catalog_path, str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        hours = HOURS[16:24]
        started = time.monotonic()
        results = run_workers(config_path, dagster_home, hours)
        assert time.monotonic() - started < 240
        assert reader.poll() is None, "the analyst's session must stay open for the whole time"
        stop.touch()
        out, _ = reader.communicate(timeout=30)
    finally:
        reader.kill()
    assert_all_loaded(results, config, demo_logs, hours)
    queries, seen_rows = map(int, out.split())
    assert queries > 10  # the analyst kept querying while the runs wrote
    assert seen_rows == sum(source_rows(demo_logs, MODEL, h) for h in [HOURS[0], *hours])
