"""End to end, as `make run` does it: seed the demo, backfill its window on a Dagster instance, start
the real `dagster-daemon`; its alert sensor writes the documented incidents to the JSON-lines log and
posts them to a webhook on loopback within a bounded time. Everything started is stopped by PID."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from monitoring_pipeline.config import REPO_ROOT
from monitoring_pipeline.config.demo_window import read_demo_window
from monitoring_pipeline_tests.helpers import group_alive, stop_process_group
from monitoring_pipeline_tests.integration.test_alerts import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.heavy(330)]
BIN = Path(sys.executable).parent
DEADLINE_SECONDS = 90


def test_make_run_backfill_and_daemon_produce_the_demo_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver()
    raw = yaml.safe_load((REPO_ROOT / "monitors.yaml").read_text())
    raw["warehouse"] = {"results": str(tmp_path / "results.sqlite"), "data": str(tmp_path / "warehouse")}
    raw["alerting"] = {
        "log_path": str(tmp_path / "alerts.jsonl"),
        "interval_seconds": 5,
        "sinks": {"ops": {"type": "webhook", "url_env": "TEST_WEBHOOK_URL"}},
    }
    for model in raw["models"]:
        model["logs"] = str(tmp_path / "store" / "predictions")
        model["alerts"] = [{"sink": "ops", "min_severity": "ERROR"}]
        if model["reference"]["type"] == "file":
            model["reference"]["path"] = str(tmp_path / "store" / "reference" / "training.parquet")
    (tmp_path / "monitors.yaml").write_text(yaml.safe_dump(raw))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "MONITORING_CONFIG": str(tmp_path / "monitors.yaml"),
        "DAGSTER_HOME": str(home),
        "TEST_WEBHOOK_URL": receiver.url,
    }
    for step in (["seed-demo", "--if-empty"], ["backfill", "--demo"]):  # the first two lines of `make run`
        subprocess.run(
            [str(BIN / "monitoring-pipeline"), *step], env=env, check=True, timeout=1200, capture_output=True
        )
    assert (home / ".demo_backfilled").exists()

    log = tmp_path / "alerts.jsonl"
    assert not log.exists()  # alerts come from the daemon's sensor, not from the backfill
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        started = time.monotonic()
        while time.monotonic() - started < DEADLINE_SECONDS and not receiver.delivered():
            assert daemon.poll() is None, "the daemon exited"
            time.sleep(1)
        waited = time.monotonic() - started
    finally:
        stop_process_group(daemon)
        receiver.server.shutdown()
    assert not group_alive(daemon.pid)
    assert receiver.delivered(), f"no alert within {DEADLINE_SECONDS}s"
    assert waited < DEADLINE_SECONDS

    alerts = [json.loads(line) for line in log.read_text().splitlines()]
    got: dict[tuple[str, str], int] = {}
    for a in alerts:
        got[(a["model"], a["check"])] = got.get((a["model"], a["check"]), 0) + 1
    assert got[("fraud_classifier", "hour_is_not_empty")] == 2  # the empty and the missing hour
    assert got[("fraud_classifier", "data_quality_expectations_pass")] == 3  # null spike x2, new category
    # until the 24-hour trailing reference absorbs the new category: 6 to 16 of its 36 hours, depending on
    # the demo's volumes, which follow the clock (the demo ends at the current hour: 13 were seen at 07 UTC,
    # 12 at 00 UTC); more would mean the reference never absorbs it
    assert 6 <= got[("fraud_classifier", "merchant_category_not_drifted")] <= 16
    assert got[("delivery_time_regressor", "distance_km_not_drifted")] == 8  # the unit bug
    assert got[("delivery_time_regressor", "hour_is_not_empty")] == 1
    # the multiclass model's class surge (hours 60-65) and no other hour, whatever the clock (the volumes
    # follow it): macro F1 drops ~0.23 there; elsewhere a drop past max_drop 0.1 is a ~4-sigma event
    window = read_demo_window(tmp_path)
    assert window is not None
    surge = {
        int((datetime.fromisoformat(a["hour"]) - window[0]) / timedelta(hours=1))
        for a in alerts
        if a["model"] == "ticket_router" and a["check"] == "performance_within_margin"
    }
    assert surge == set(range(60, 66)), sorted(surge)
    assert {a["kind"] for a in alerts} == {"failure"}
    webhook_models = {m["model"] for m in receiver.delivered()}
    assert webhook_models == {
        "fraud_classifier",
        "delivery_time_regressor",
        "ticket_router",
    }  # ERROR alerts only, one message each
    assert len(receiver.delivered()) == 3
