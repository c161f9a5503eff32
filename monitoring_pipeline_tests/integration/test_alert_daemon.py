"""The alert sensors under the real `dagster-daemon`, on a Dagster instance in a folder:
- the daemon is killed with SIGKILL while a webhook is slowly receiving a message, then restarted: the
  receiver (which drops a repeated idempotency key) gets each message once, the log has one line per
  alert, and no secret of a broken sink reaches Dagster's storage, the daemon's log or the warehouse;
- a CLI backfill with one truncated object gives one run-failure alert within two sensor intervals;
- a run whose worker is killed is marked failed by run monitoring and alerted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from monitoring_pipeline.config import REPO_ROOT, MonitorsConfig, load_config
from monitoring_pipeline.defs.run_launcher import process_alive
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS, write_config
from monitoring_pipeline_tests.helpers import copy_hour, group_alive, key, run_pipeline, stop_process_group
from monitoring_pipeline_tests.integration.test_alerts import SECRET, Receiver

pytestmark = [pytest.mark.integration, pytest.mark.heavy(240)]
BIN = Path(sys.executable).parent
FRAUD = "fraud_classifier"
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
NO_SCHEME = f"hooks.slack.example/services/{SECRET}"
NO_HOST = f"http://no-such-host-{SECRET.replace('/', '-').lower()}.invalid/x"


def setup(tmp_path: Path, logs: Path, sinks: dict[str, dict], interval: float) -> tuple[MonitorsConfig, dict]:
    alerting = {
        "interval_seconds": interval,
        "retry_base_seconds": 0,
        "summarize_hours_older_than": 1e5,
        "sinks": sinks,
    }
    routes = [{"sink": name, "min_severity": "WARN"} for name in sinks]
    path = write_config(tmp_path, str(logs), top={"alerting": alerting}, labels="", alerts=routes)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "MONITORING_CONFIG": str(path), "DAGSTER_HOME": str(home)}
    return load_config(path), env


@contextmanager
def daemon(env: dict, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_process_group(proc)


def wait_until(
    condition: Callable[[], object], seconds: float, proc: subprocess.Popen | None, what: str
) -> float:
    """Seconds until `condition` holds; fails after `seconds`, or as soon as `proc` (if given) exits."""
    started = time.monotonic()
    while not condition():
        assert proc is None or proc.poll() is None, "the daemon exited"
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds:.0f} s"
        time.sleep(0.1)
    return time.monotonic() - started


def messages(config: MonitorsConfig) -> list[dict]:
    results = Warehouse.open(config.warehouse).results
    return results.rows(sa.select(catalog.alert_messages))


def delivered(config: MonitorsConfig, sink: str) -> list[dict]:
    return [m for m in messages(config) if m["sink"] == sink and m["delivery_state"] == "delivered"]


def test_a_daemon_killed_mid_send_delivers_each_message_once_and_leaks_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver(hold_first=8.0)
    sinks = {
        "ops": {"type": "webhook", "url_env": "OPS_URL"},
        "typo": {"type": "webhook", "url_env": "TYPO_URL"},
        "nohost": {"type": "webhook", "url_env": "NOHOST_URL", "timeout_seconds": 2},
    }
    config, env = setup(tmp_path, tmp_path / "logs", sinks, interval=2)
    env |= {"OPS_URL": receiver.url, "TYPO_URL": NO_SCHEME, "NOHOST_URL": NO_HOST}
    home = Path(env["DAGSTER_HOME"])
    instance = dg.DagsterInstance.from_config(str(home))
    assert not run_pipeline(config, FRAUD, HOURS[30], HOURS[31], instance=instance).success  # two empty hours
    log = tmp_path / "daemon.log"
    with daemon(env, log) as first:
        wait_until(receiver.holding.is_set, 180, first, "the first webhook send")
        os.killpg(first.pid, signal.SIGKILL)  # the daemon and its code server, mid-send
        first.wait(timeout=10)
        wait_until(lambda: not group_alive(first.pid), 30, None, "the killed group gone")
    assert delivered(config, "ops") == []  # the send was never marked
    with daemon(env, log) as second:
        wait_until(lambda: delivered(config, "ops") and delivered(config, "log"), 180, second, "delivery")
        time.sleep(6)  # a few more ticks: nothing is sent again
    receiver.server.shutdown()

    ops = delivered(config, "ops")
    assert len(receiver.keys) == len(ops) and receiver.duplicates == 1  # the interrupted send, dropped
    assert sorted(receiver.keys) == sorted(m["message_id"] for m in ops)
    lines = [json.loads(line) for line in Path(config.alerting.log_path).read_text().splitlines()]
    results = Warehouse.open(config.warehouse).results
    rows = results.rows(sa.select(catalog.alerts))
    assert len(lines) == len({a["alert_id"] for a in lines}) == len([r for r in rows if r["sink"] == "log"])
    assert {a["check"] for a in lines} >= {"hour_is_not_empty", "logs_arrived_on_time"}
    assert "run_failed" not in {a["check"] for a in lines}  # blocking checks failed the run: their alerts
    states = {(r["sink"], r["delivery_state"]) for r in rows}
    assert states == {
        ("log", "delivered"),
        ("ops", "delivered"),
        ("typo", "retrying"),
        ("nohost", "retrying"),
    }
    errors = {m["sink"]: m["last_error"] for m in messages(config)}
    assert errors["typo"] == "sink 'typo': $TYPO_URL does not hold an http(s) URL with a host"
    assert errors["nohost"].startswith("sink 'nohost': DNS lookup failed")

    secrets = [SECRET, NO_SCHEME, "no-such-host", "hooks.slack.example"]
    stored = [p for p in [*home.rglob("*"), log, tmp_path / "results.sqlite"] if p.is_file()]
    assert any(p.suffix == ".db" for p in stored)  # Dagster's sqlite files are among them
    for path in stored:
        data = path.read_bytes()
        leaked = [s for s in secrets if s.encode() in data or s.lower().encode() in data]
        assert not leaked, f"{leaked} in {path}"


def test_a_failed_backfill_and_a_killed_run_each_alert_through_the_daemon(
    tmp_path: Path, demo_logs: Path
) -> None:
    interval = 10
    receiver = Receiver()
    _, env = setup(
        tmp_path, tmp_path / "logs", {"ops": {"type": "webhook", "url_env": "OPS_URL"}}, interval=interval
    )
    env["OPS_URL"] = receiver.url
    for i in range(6, 30):  # 6..9 for the backfill; 10..29 for runs long enough to be killed while running
        copy_hour(demo_logs, tmp_path / "logs", FRAUD, HOURS[i])
    hour = tmp_path / "logs" / FRAUD / f"dt={HOURS[8]:%Y-%m-%d}" / f"hour={HOURS[8]:%H}"
    broken = sorted(hour.glob("*.parquet"))[0]
    broken.write_bytes(broken.read_bytes()[:100])  # truncated upstream

    def run_alerts() -> list[dict]:
        return [
            a
            for m in receiver.delivered()
            for a in m["alerts"]
            if a["check"] == "run_failed" and a["kind"] == "failure"
        ]

    log = tmp_path / "daemon.log"
    with daemon(env, log) as proc:
        # run-status sensors start from the newest event at their first tick: wait for it
        wait_until(lambda: b"run_failure_alerts" in log.read_bytes(), 180, proc, "the sensor's first tick")
        time.sleep(interval)
        window = ["--from", key(HOURS[6]), "--to", key(HOURS[9]), "--hours-per-run", "4"]
        backfill = subprocess.run(
            [str(BIN / "monitoring-pipeline"), "backfill", "--model", FRAUD, *window],
            env=env,
            capture_output=True,
            timeout=600,
        )
        assert backfill.returncode != 0
        waited = wait_until(lambda: run_alerts(), 5 * interval, proc, "the run-failure alert")
        [alert] = run_alerts()
        # two ticks at most (the run-failure sensor queues, the alert sensor sends), plus their own work:
        # alone 12-15 s; under the whole suite's load a tick's work takes seconds (28 s seen)
        assert waited <= 3 * interval
        assert "IngestError" in alert["description"] and broken.name in alert["description"]

        # runs launched through the daemon (queued, then started by the launcher in a worker process)
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
        killed_worker, pid = launch_and_wait_for_worker(env, instance, proc)
        os.kill(pid, signal.SIGKILL)  # the worker alone: its code server reports the run failed
        wait_until(lambda: failed(instance, killed_worker), 90, proc, "the run marked failed")
        wait_until(lambda: len(run_alerts()) == 2, 3 * interval, proc, "the killed worker's alert")
        # a run killed together with the daemon and code server (a crash of the machine, say): nothing is
        # left to report it, until run monitoring finds its worker gone after the restart
        crashed, crashed_pid = launch_and_wait_for_worker(env, instance, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: not process_alive(crashed_pid), 30, None, "the crashed worker gone")
    assert instance.get_run_by_id(crashed).status == dg.DagsterRunStatus.STARTED  # stuck, until:
    with daemon(env, log) as proc:
        wait_until(lambda: failed(instance, crashed), 120, proc, "run monitoring marking the run failed")
        wait_until(lambda: len(run_alerts()) == 3, 3 * interval, proc, "the crashed run's alert")
    receiver.server.shutdown()
    [worker_alert] = [a for a in run_alerts() if killed_worker[:8] in a["description"]]
    assert "failed at the run itself" in worker_alert["description"]
    [crash_alert] = [a for a in run_alerts() if crashed[:8] in a["description"]]
    assert f"the run worker process {crashed_pid} is gone" in crash_alert["description"]
    assert all(a["model"] == FRAUD for a in run_alerts())


def failed(instance: dg.DagsterInstance, run_id: str) -> bool:
    return instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE


def launch_and_wait_for_worker(
    env: dict, instance: dg.DagsterInstance, proc: subprocess.Popen
) -> tuple[str, int]:
    """`dagster job launch` of twenty hours of the model's hourly job; its run id and worker pid once the
    run has STARTED."""
    span = {"range_start": key(HOURS[10]), "range_end": key(HOURS[29])}  # 20 hours: several seconds
    tags = ["--tags", json.dumps({f"dagster/asset_partition_{k}": v for k, v in span.items()})]
    before = {r.dagster_run.run_id for r in instance.get_run_records()}
    launched = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", f"{FRAUD}_hourly", *tags],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-2000:]
    [run_id] = {r.dagster_run.run_id for r in instance.get_run_records()} - before

    def worker_pid() -> int | None:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        assert run.status not in FINISHED, f"run {run_id} ended {run.status} before it could be killed"
        if run.status != dg.DagsterRunStatus.STARTED:
            return None
        for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            if (event.dagster_event.message or "").startswith("Started process for run"):
                return int(event.dagster_event.engine_event_data.metadata["pid"].value)
        return None

    wait_until(worker_pid, 180, proc, "the run started")
    pid = worker_pid()
    assert pid is not None
    return run_id, pid
