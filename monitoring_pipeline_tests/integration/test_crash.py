"""kill -9 in the middle of a 6-hour run, on the local store and on S3, then a re-run: nothing the crash
left is half-visible (every published object is whole, an hour's drift metrics never appear without its
summary) and nothing is duplicated after the re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from monitoring_pipeline.config import load_config
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS, source_rows, write_config
from monitoring_pipeline_tests.helpers import key, query, warehouse_rows

pytestmark = pytest.mark.integration
MODEL = "fraud_classifier"
FIRST, LAST = HOURS[0], HOURS[5]

RUN = """
import sys
import dagster as dg
from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.schedules import hourly_asset_names
config = load_config()
job = build_definitions(config).resolve_implicit_global_asset_job_def()
model = config.model("fraud_classifier")
tags = {"dagster/asset_partition_range_start": sys.argv[1], "dagster/asset_partition_range_end": sys.argv[2]}
selection = [dg.AssetKey([model.name, n]) for n in hourly_asset_names(model)]
with dg.DagsterInstance.get() as instance:
    result = job.execute_in_process(
        asset_selection=selection, tags=tags, instance=instance, raise_on_error=False
    )
print("success" if result.success else "failed", flush=True)
"""


def _run(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUN, key(FIRST), key(LAST)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _objects_are_whole(wh: Warehouse) -> int:
    """Every object a reader can find for the run's hours opens as a complete Parquet file."""
    found = 0
    for table in catalog.OBJECT_TABLES:
        paths = wh.fetch_hours(table, MODEL, HOURS[0:6])
        for path in paths.values():
            pq.read_table(path)  # raises on a torn file
        found += len(paths)
    return found


def test_kill_9_mid_run_then_rerun(tmp_path: Path, warehouse_root: str, demo_logs: Path) -> None:
    config = load_config(write_config(tmp_path, str(demo_logs), data=warehouse_root, labels=""))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dg.DagsterInstance.from_config(str(home)).dispose()
    env = {**os.environ, "MONITORING_CONFIG": str(config.path), "DAGSTER_HOME": str(home)}
    wh = Warehouse.open(config.warehouse)
    crashed = _run(env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill once the run is writing drift results hour by hour
        if wh.results.rows(sa.select(catalog.drift_summary.c.partition_hour)):
            break
        assert crashed.poll() is None, crashed.stdout.read()
        time.sleep(0.05)
    os.killpg(crashed.pid, signal.SIGKILL)
    crashed.wait(timeout=30)
    assert crashed.returncode == -signal.SIGKILL
    assert _objects_are_whole(wh) > 0
    torn = query(
        config,
        "SELECT partition_hour FROM main.drift_metrics EXCEPT SELECT partition_hour FROM main.drift_summary",
    )
    assert torn == []  # no hour's metrics without its summary
    rerun = _run(env)
    out, _ = rerun.communicate(timeout=600)
    assert out.strip().endswith("success"), out[-3000:]
    assert _objects_are_whole(wh) > 0
    expected = {h: source_rows(demo_logs, MODEL, h) for h in HOURS[0:6]}
    assert warehouse_rows(config, MODEL) == expected  # rows per hour exact: nothing lost or doubled
    columns = len(config.model(MODEL).monitored_columns)
    per_hour = query(config, "SELECT partition_hour, count(*) FROM main.drift_metrics GROUP BY 1")
    assert per_hour and all(n == columns for _, n in per_hour)
    doubled = query(
        config,
        "SELECT check_name, partition_hour FROM main.check_results GROUP BY 1, 2 HAVING count(*) > 1",
    )
    assert doubled == []
