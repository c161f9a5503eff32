"""The alert sensor ticked with build_sensor_context against a real Dagster instance holding real check
evaluations, delivering to a real HTTP receiver and a real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline_tests.conftest import HOURS, write_config
from monitoring_pipeline_tests.helpers import copy_hour, free_port, query, run_pipeline

pytestmark = pytest.mark.integration
FRAUD = "fraud_classifier"
SECRET = "T000/B000/secret-token-do-not-log"


class Receiver:
    """An HTTP server on loopback that records POSTed JSON and answers with scripted statuses. Like a
    careful receiver, it takes each idempotency key once: a repeat is counted in `duplicates` and
    dropped. With `hold_first`, it sleeps that long before answering its first request (a slow send
    to kill a sender in the middle of)."""

    def __init__(self, hold_first: float = 0.0) -> None:
        self.requests: list[tuple[int, dict]] = []
        self.statuses: list[int] = []
        self.keys: list[str] = []  # accepted, in order
        self.duplicates = 0
        self.holding = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append((status, body))
                key = self.headers.get("Idempotency-Key")
                if status == 200 and key is not None:
                    if key in receiver.keys:
                        receiver.duplicates += 1
                    else:
                        receiver.keys.append(key)
                if hold_first and not receiver.holding.is_set():
                    receiver.holding.set()
                    time.sleep(hold_first)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/{SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        return [body for status, body in self.requests if status == 200]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = Receiver()
    monkeypatch.setenv("TEST_WEBHOOK_URL", r.url)
    yield r
    r.server.shutdown()


def alert_config(tmp_path: Path, logs: str, summarize_after: float = 1e5, **sink: object) -> MonitorsConfig:
    """A webhook sink 'ops' for every model; the demo's hours are days old, so by default nothing is
    old enough to be summarised."""
    sinks = {"ops": {"type": "webhook", "url_env": "TEST_WEBHOOK_URL", "format": "json", **sink}}
    alerting = {"sinks": sinks, "retry_base_seconds": 0, "summarize_hours_older_than": summarize_after}
    top = {"alerting": alerting, "dagster_ui_url": "http://ui.example:3000"}
    return load_config(
        write_config(tmp_path, logs, top=top, alerts=[{"sink": "ops", "min_severity": "WARN"}])
    )


def tick(config: MonitorsConfig, instance: dg.DagsterInstance, cursor: str | None) -> tuple[str, str]:
    sensor = build_definitions(config).resolve_sensor_def("check_failure_alerts")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"warehouse": WarehouseResource.from_config(config.warehouse)},
    )
    result = sensor.evaluate_tick(context)
    return result.cursor, result.skip_message


def log_lines(config: MonitorsConfig) -> list[dict]:
    path = Path(config.alerting.log_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_first_tick_alerts_second_is_silent_recovery_once(
    tmp_path: Path, demo_logs: Path, receiver: Receiver
) -> None:
    logs = tmp_path / "logs"
    for i in (6, 7, 29):
        copy_hour(demo_logs, logs, FRAUD, HOURS[i])
    shutil.copytree(demo_logs.parent / "labels", tmp_path / "labels")  # their labels arrived as in the demo
    config = alert_config(tmp_path, str(logs))
    instance = dg.DagsterInstance.ephemeral()
    run_pipeline(config, FRAUD, HOURS[6], HOURS[7], instance=instance)  # the same hours a day earlier: fine
    cursor, _ = tick(config, instance, None)
    assert log_lines(config) == [] and receiver.requests == []  # passing checks never alert
    run_pipeline(config, FRAUD, HOURS[30], HOURS[30], instance=instance)  # no logs: blocking failure
    cursor, summary = tick(config, instance, cursor)
    first = log_lines(config)
    failed = {(a["check"], a["kind"]) for a in first}
    assert ("hour_is_not_empty", "failure") in failed and ("logs_arrived_on_time", "failure") in failed
    alert = next(a for a in first if a["check"] == "hour_is_not_empty")
    assert (alert["model"], alert["hour"], alert["severity"], alert["observed"], alert["threshold"]) == (
        FRAUD,
        HOURS[30].isoformat(),
        "ERROR",
        0.0,
        1.0,
    )
    assert (
        alert["url"]
        == f"http://ui.example:3000/assets/{FRAUD}/prediction_logs?view=checks&partition={HOURS[30]:%Y-%m-%d-%H}:00"
    )
    [message] = receiver.delivered()  # one message for the model and sink, holding every alert
    assert message["model"] == FRAUD and {a["check"] for a in message["alerts"]} == {c for c, _ in failed}
    assert "2 message(s) delivered" in summary  # the log and ops

    cursor, summary = tick(config, instance, cursor)
    assert (
        len(log_lines(config)) == len(first) and len(receiver.requests) == 1 and "0 new alert(s)" in summary
    )

    src = logs / FRAUD / f"dt={HOURS[6]:%Y-%m-%d}" / f"hour={HOURS[6]:%H}"
    dst = logs / FRAUD / f"dt={HOURS[30]:%Y-%m-%d}" / f"hour={HOURS[30]:%H}"
    dst.mkdir(parents=True)
    for f in src.glob("*.parquet"):  # late logs arrive for the hour: a day later, stamped a day later
        frame = pd.read_parquet(f)
        frame["event_time"] += HOURS[30] - HOURS[6]
        frame.to_parquet(dst / f.name, index=False)
    run_pipeline(config, FRAUD, HOURS[30], HOURS[30], instance=instance)
    cursor, _ = tick(config, instance, cursor)
    recoveries = [a for a in log_lines(config)[len(first) :] if a["kind"] == "recovery"]
    assert sorted(a["check"] for a in recoveries) == ["hour_is_not_empty", "volume_within_band"]
    cursor, _ = tick(config, instance, cursor)
    assert [a for a in log_lines(config) if a["kind"] == "recovery"] == recoveries  # exactly once
    rows = query(config, "SELECT sink, delivery_state, count(*) FROM main.alerts GROUP BY ALL ORDER BY ALL")
    assert rows == [("log", "delivered", len(first) + 2), ("ops", "delivered", len(first) + 2)]


def failing_hour(tmp_path: Path, config: MonitorsConfig) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    run_pipeline(config, FRAUD, HOURS[30], HOURS[30], instance=instance)  # an hour with no logs
    return instance


def test_webhook_500_then_200_delivers_exactly_once(tmp_path: Path, receiver: Receiver) -> None:
    config = alert_config(tmp_path, str(tmp_path / "logs"))
    instance = failing_hour(tmp_path, config)
    receiver.statuses = [500]
    cursor, summary = tick(config, instance, None)
    assert "1 failed, 1 pending" in summary and log_lines(config)  # the log sink is unaffected
    states = query(config, "SELECT DISTINCT sink, delivery_state, last_error FROM main.alerts ORDER BY 1")
    assert states == [("log", "delivered", None), ("ops", "retrying", "sink 'ops': HTTP 500")]
    cursor, summary = tick(config, instance, cursor)  # backoff base 0 s: retried on the next tick
    assert [status for status, _ in receiver.requests] == [500, 200]
    assert receiver.requests[0][1]["message_id"] == receiver.requests[1][1]["message_id"]
    cursor, _ = tick(config, instance, cursor)
    assert len(receiver.delivered()) == 1  # exactly once
    latest = query(
        config,
        "SELECT delivery_state, attempts FROM main.alerts WHERE sink = 'ops' "
        "ORDER BY updated_at DESC LIMIT 1",
    )
    assert latest == [("delivered", 2)]  # two sends: the 500, then the 200


def test_unreachable_sink_keeps_retrying_without_leaking_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TEST_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/services/{SECRET}"
    )  # nothing listens
    config = alert_config(tmp_path, str(tmp_path / "logs"), timeout_seconds=2)
    instance = failing_hour(tmp_path, config)
    cursor, summary = tick(config, instance, None)
    cursor, summary = tick(config, instance, cursor)
    assert "1 failed, 1 pending" in summary
    [(error,)] = query(config, "SELECT DISTINCT last_error FROM main.alerts WHERE sink = 'ops'")
    assert "Connection" in error or "refused" in error
    everything = (
        Path(config.alerting.log_path).read_text()
        + cursor
        + summary
        + str(query(config, "SELECT * FROM main.alerts"))
    )
    assert SECRET not in everything


def test_slack_payload(tmp_path: Path, receiver: Receiver) -> None:
    config = alert_config(tmp_path, str(tmp_path / "logs"), format="slack")
    tick(config, failing_hour(tmp_path, config), None)
    [body] = receiver.delivered()
    assert (
        set(body) == {"text"}
        and "hour_is_not_empty FAILED" in body["text"]
        and "http://ui.example:3000/assets/" in body["text"]
    )


def test_a_backfill_of_48_failing_hours_sends_one_message_per_model_and_sink(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = alert_config(tmp_path, str(tmp_path / "logs"), summarize_after=48)
    instance = dg.DagsterInstance.ephemeral()
    run_pipeline(config, FRAUD, HOURS[0], HOURS[47], instance=instance)  # no logs at all: every hour fails
    tick(config, instance, None)
    [message] = receiver.delivered()  # bounded: one message for the model and the sink
    assert message["alerts"] == []  # every hour is older than 48 h: summarised, not paged one by one
    summarized = {s["check"]: s["hours"] for s in message["summarized"]}
    assert summarized == {"hour_is_not_empty": 48, "logs_arrived_on_time": 48}
    assert len(log_lines(config)) == 96  # the log keeps every alert


def test_email_over_smtp(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            received.append(envelope)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sinks = {
            "pager": {
                "type": "email",
                "host": "127.0.0.1",
                "port": controller.port,
                "sender": "monitor@example.com",
                "to": ["oncall@example.com"],
            }
        }
        top = {"alerting": {"sinks": sinks, "summarize_hours_older_than": 1e5}}
        config = load_config(
            write_config(
                tmp_path, str(tmp_path / "logs"), top=top, alerts=[{"sink": "pager", "min_severity": "ERROR"}]
            )
        )
        tick(config, failing_hour(tmp_path, config), None)
    finally:
        controller.stop()
    [envelope] = received
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert envelope.rcpt_tos == ["oncall@example.com"]
    assert " ".join(str(mail["Subject"]).split()).startswith(
        "[monitoring] fraud_classifier: 1 check failure(s)"
    )
    body = mail.get_content()
    assert "hour_is_not_empty FAILED" in body and "logs_arrived_on_time" not in body  # WARN is below ERROR


def run_status_tick(
    config: MonitorsConfig, instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, name: str
) -> None:
    """One evaluation of a run-status sensor on a finished run's final event."""
    sensor = build_definitions(config).resolve_sensor_def(name)
    run = instance.get_run_by_id(result.run_id)
    kind = (
        dg.DagsterEventType.RUN_FAILURE if name == "run_failure_alerts" else dg.DagsterEventType.RUN_SUCCESS
    )
    [event] = [e.dagster_event for e in instance.all_logs(result.run_id, of_type=kind)]
    context = dg.build_run_status_sensor_context(
        sensor_name=name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"warehouse": WarehouseResource.from_config(config.warehouse)},
    )
    sensor(context.for_run_failure() if name == "run_failure_alerts" else context)


def test_a_failed_run_alerts_once_per_model_naming_its_step_and_recovers_when_its_hours_succeed(
    tmp_path: Path, demo_logs: Path, receiver: Receiver
) -> None:
    logs = tmp_path / "logs"
    for i in (6, 7, 8, 9):
        copy_hour(demo_logs, logs, FRAUD, HOURS[i])
    broken = sorted((logs / FRAUD / f"dt={HOURS[8]:%Y-%m-%d}" / f"hour={HOURS[8]:%H}").glob("*.parquet"))[0]
    good = broken.read_bytes()
    broken.write_bytes(good[: len(good) // 2])  # truncated upstream
    config = alert_config(tmp_path, str(logs))
    instance = dg.DagsterInstance.ephemeral()
    failed = run_pipeline(config, FRAUD, HOURS[6], HOURS[9], instance=instance)
    assert not failed.success
    run_status_tick(config, instance, failed, "run_failure_alerts")
    run_status_tick(config, instance, failed, "run_failure_alerts")  # a replayed tick adds nothing
    cursor, _ = tick(config, instance, None)
    [alert] = [a for a in log_lines(config) if a["check"] == "run_failed"]
    assert alert["kind"] == "failure" and alert["severity"] == "ERROR" and alert["model"] == FRAUD
    assert f"run {failed.run_id[:8]} of __ASSET_JOB" in alert["description"]
    assert "failed at step fraud_classifier__prediction_logs: IngestError:" in alert["description"]
    assert broken.name in alert["description"] and alert["url"].endswith(f"/runs/{failed.run_id}")
    [message] = [m for m in receiver.delivered() if any(a["check"] == "run_failed" for a in m["alerts"])]
    assert len(message["alerts"]) == 1
    broken.write_bytes(good)  # fixed upstream; the hours are run again, in two runs
    first_half = run_pipeline(config, FRAUD, HOURS[6], HOURS[7], instance=instance)
    run_status_tick(config, instance, first_half, "run_recovery_alerts")
    tick(config, instance, cursor)
    assert not [a for a in log_lines(config) if a["check"] == "run_failed" and a["kind"] == "recovery"]
    second_half = run_pipeline(config, FRAUD, HOURS[8], HOURS[9], instance=instance)
    assert first_half.success and second_half.success
    run_status_tick(config, instance, second_half, "run_recovery_alerts")
    run_status_tick(config, instance, second_half, "run_recovery_alerts")
    tick(config, instance, cursor)
    [recovery] = [a for a in log_lines(config) if a["check"] == "run_failed" and a["kind"] == "recovery"]
    assert recovery["hour"] == alert["hour"] == HOURS[6].isoformat()
    rows = query(config, "SELECT run_id, recovered_by FROM main.run_failures")
    assert rows == [(failed.run_id, second_half.run_id)]


def test_a_run_failed_only_by_a_blocking_check_is_left_to_the_checks_alerts(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = alert_config(tmp_path, str(tmp_path / "logs"))
    instance = dg.DagsterInstance.ephemeral()
    result = run_pipeline(config, FRAUD, HOURS[30], HOURS[30], instance=instance)  # an hour with no logs
    assert not result.success
    run_status_tick(config, instance, result, "run_failure_alerts")
    tick(config, instance, None)
    checks = {a["check"] for a in log_lines(config)}
    assert "hour_is_not_empty" in checks and "run_failed" not in checks
