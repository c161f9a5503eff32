"""A 48-hour backfill launched the way the UI launches it (GraphQL `launchPartitionBackfill`) and run by
the real daemon, while scheduled-style one-hour runs execute on the same instance and warehouse: every
run succeeds, no lock errors, exact row counts, one check result per check per hour. Pairwise over the
two axes: the default SQLite instance with logs and warehouse on the local store, and a PostgreSQL
instance (a real server on loopback, see postgres.py) with logs and warehouse on S3 (moto's server)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml

from monitoring_pipeline.config import REPO_ROOT, load_config
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.schedules import hourly_asset_names
from monitoring_pipeline.storage import catalog
from monitoring_pipeline_tests.conftest import HOURS, open_stores, source_rows, write_config
from monitoring_pipeline_tests.helpers import free_port, key, query, stop_process_group, warehouse_rows
from monitoring_pipeline_tests.postgres import running_postgres
from monitoring_pipeline_tests.stores import Stores

pytestmark = [pytest.mark.integration, pytest.mark.heavy(450)]
BIN = Path(sys.executable).parent
FRAUD = "fraud_classifier"
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""


def graphql(port: int, query_text: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        method="POST",
        data=json.dumps({"query": query_text, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def root_cause(event: dg.EventLogEntry) -> str:
    error = event.dagster_event.event_specific_data.error
    while error.cause is not None:
        error = error.cause
    return error.message.strip()[-400:]


def wait_for_ui(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "dagster dev exited"
        try:
            graphql(port, "{ version }", {})
            return
        except OSError:
            time.sleep(1)
    raise AssertionError("the UI did not start")


def run_backfill(tmp_path: Path, demo_logs: Path, stores: Stores, storage: dict | None) -> None:
    # Labels are left out: this is about Dagster's backfill mechanics, and the label sensors would add
    # performance runs of their own (tested in defs/test_performance_pipeline.py).
    config_path = write_config(tmp_path, stores.demo, data=stores.data, labels="")
    config = load_config(config_path)
    home = tmp_path / "home"
    home.mkdir()
    instance_yaml = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    if storage:
        instance_yaml["storage"] = {"postgres": {"postgres_db": storage}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml))
    env = {**os.environ, "MONITORING_CONFIG": str(config_path), "DAGSTER_HOME": str(home)}
    port = free_port()
    ui = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    hours = HOURS[0:48]
    try:
        wait_for_ui(port, ui)
        params = {
            "partitionNames": [key(h) for h in hours],
            "fromFailure": False,
            "assetSelection": [{"path": [FRAUD, name]} for name in hourly_asset_names(config.model(FRAUD))],
        }
        launched = graphql(port, LAUNCH, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        # meanwhile, the hourly job runs two later hours, as the schedule would, on the same instance
        with dg.DagsterInstance.from_config(str(home)) as instance:
            job = build_definitions(config).resolve_job_def(f"{FRAUD}_hourly")
            for hour in HOURS[80:82]:
                assert job.execute_in_process(partition_key=key(hour), instance=instance).success
            deadline = time.monotonic() + 600
            status = None
            while time.monotonic() < deadline:
                status = graphql(port, STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"][
                    "status"
                ]
                if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
                    break
                time.sleep(2)
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]}))
            failures = [
                f"{r.tags.get('dagster/asset_partition_range_start')}: {root_cause(e)}"
                for r in runs
                for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
            ]
            assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (status, failures)
            # ceil(48 / 24) runs of 24 hours, each with every asset (not 48 runs, nor waves of them)
            assert len(runs) == math.ceil(len(hours) / 24), sorted(
                (r.tags.get("dagster/asset_partition_range_start"), r.asset_selection) for r in runs
            )
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    finally:
        stop_process_group(ui)
    rows = warehouse_rows(config, FRAUD)
    for hour in [*hours, *HOURS[80:82]]:
        assert rows.get(hour, 0) == source_rows(demo_logs, FRAUD, hour), hour
    counts = query(
        config,
        "SELECT check_name, count(*), count(DISTINCT partition_hour) FROM main.check_results "
        "WHERE partition_hour < ? GROUP BY 1",
        [HOURS[48]],
    )
    for check, n, distinct in counts:
        assert n == distinct, check  # one result per check per hour
    evaluated = dict((c, d) for c, _, d in counts)
    assert evaluated["hour_is_not_empty"] == 48 and evaluated["schema_matches"] == 48
    # the runs executed in partition order: every trailing reference merged its whole window (each hour
    # before it that has a profile), as an hour-by-hour run would
    profiled = {h for (h,) in query(config, "SELECT DISTINCT partition_hour FROM main.feature_profiles")}
    windows = dict(
        query(config, "SELECT DISTINCT partition_hour, reference_window FROM main.reference_profiles")
    )
    for hour in hours[24:]:
        expected = sum(hour - timedelta(hours=k) in profiled for k in range(1, 25))
        assert windows[hour].endswith(f"{expected}/24 hours profiled"), (hour, windows[hour])


def test_backfill_on_sqlite_and_the_local_store(tmp_path: Path, demo_logs: Path) -> None:
    run_backfill(tmp_path, demo_logs, Stores("local", str(tmp_path), str(demo_logs), tmp_path), storage=None)


def test_backfill_on_postgres_and_s3(
    tmp_path: Path, demo_logs: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = open_stores("s3", request, tmp_path, monkeypatch)  # the daemon's runs inherit the S3 settings
    with running_postgres() as pg:
        run_backfill(tmp_path, demo_logs, stores, storage=pg.storage_config())
        # the runs really were recorded in PostgreSQL
        conn = psycopg2.connect(host=pg.host, port=pg.port, user=pg.username, dbname=pg.db_name)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
                assert cursor.fetchone()[0] >= 2 + 2
        finally:
            conn.close()
    published = stores.partitions(load_config(tmp_path / "monitors.yaml"), FRAUD)
    assert all(o.uri.startswith(stores.data + "/") for o in published)
    expected = {catalog.prediction_logs.key(FRAUD, h) for h in [*HOURS[0:48], *HOURS[80:82]]}
    found = {o.key for o in published}
    assert expected <= found
    # anything else is the hour the hourly schedule requested if the test ran across its minute: never a
    # demo hour
    assert not (found - expected) & {catalog.prediction_logs.key(FRAUD, h) for h in HOURS}
