"""What `make run` does, on loopback: seed the demo if empty, start `dagster dev` (webserver + daemon),
and the UI serves both demo models' lineage. Everything started is stopped by its process group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from monitoring_pipeline.config import REPO_ROOT
from monitoring_pipeline_tests.conftest import write_config
from monitoring_pipeline_tests.helpers import free_port, group_alive, stop_process_group

pytestmark = pytest.mark.integration
QUERY = "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }"


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for_assets(port: int, proc: subprocess.Popen, deadline: float) -> list[dict]:
    while time.monotonic() < deadline:
        assert proc.poll() is None, "dagster dev exited early"
        try:
            nodes = graphql(port, QUERY)["data"]["assetNodes"]
            if nodes:
                return nodes
        except (OSError, KeyError, TypeError):
            pass
        time.sleep(1)
    raise AssertionError("the UI did not serve the asset graph in time")


def test_make_run_path_serves_both_models_lineage(tmp_path: Path) -> None:
    config = write_config(tmp_path, str(tmp_path / "logs"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "MONITORING_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    bin_dir = Path(sys.executable).parent
    seed = [str(bin_dir / "monitoring-pipeline"), "seed-demo", "--if-empty", "--hours", "3"]
    subprocess.run(seed, env=env, check=True, timeout=120)
    assert len(list((tmp_path / "logs").rglob("*.parquet"))) == 3 * 3 * 2  # models x hours x replicas
    port = free_port()
    proc = subprocess.Popen(
        [str(bin_dir / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        nodes = wait_for_assets(port, proc, time.monotonic() + 120)
    finally:
        stop_process_group(proc)
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    assert groups["fraud_classifier/prediction_logs"] == "fraud_classifier"
    assert groups["delivery_time_regressor/prediction_logs"] == "delivery_time_regressor"
    assert groups["ticket_router/model_performance"] == "ticket_router"
    assert not group_alive(proc.pid)  # the whole group (webserver, daemon, code server) is gone
