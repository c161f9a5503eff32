"""The alert outbox on SQLite and on a real PostgreSQL, with real HTTP receivers on loopback: a tick that
dies at any point resumes without losing or repeating an alert, the rate limit holds messages in the
outbox, and every kind of sink failure stays that sink's, named and without the secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitoring_pipeline.alerts import dispatch, engine, sinks
from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import write_config
from monitoring_pipeline_tests.helpers import free_port
from monitoring_pipeline_tests.integration.test_alerts import SECRET, Receiver

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
MODELS = ("fraud_classifier", "delivery_time_regressor")


class Crash(BaseException):
    """The process dying: nothing after it runs, no except clause catches it."""


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = Receiver()
    monkeypatch.setenv("OPS_URL", r.url)
    yield r
    r.server.shutdown()


def make_config(tmp_path: Path, results_url: str, sinks_: dict[str, dict], **alerting: Any) -> MonitorsConfig:
    top = {
        "warehouse": {"results": results_url, "data": str(tmp_path / "warehouse")},
        "alerting": {"sinks": sinks_, "retry_base_seconds": 0, "summarize_hours_older_than": 1e5, **alerting},
    }
    routes = [{"sink": name, "min_severity": "WARN"} for name in sinks_]
    return load_config(write_config(tmp_path, str(tmp_path / "logs"), top=top, alerts=routes))


def failures(model: str = MODELS[0], hours: int = 3, run_id: str = "run-1") -> list[engine.CheckRow]:
    return [
        engine.CheckRow(
            model,
            "prediction_logs",
            check,
            NOW - timedelta(hours=h),
            False,
            "ERROR",
            0.0,
            1.0,
            "no rows",
            run_id,
        )
        for h in range(1, hours + 1)
        for check in ("hour_is_not_empty", "logs_arrived_on_time")
    ]


def table(config: MonitorsConfig, t: sa.Table) -> list[dict[str, Any]]:
    return Warehouse.open(config.warehouse).results.rows(sa.select(t))


def log_lines(config: MonitorsConfig) -> list[dict]:
    path = Path(config.alerting.log_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def crash_in(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    """Make the next tick die at `point`: before a webhook send (the outbox is committed), after the
    webhook accepted the message (its row not marked yet), or halfway through writing the log."""
    real_deliver, real_append = sinks.deliver, sinks.append_log

    def deliver(sink: Any, msg: dict) -> None:
        if point == "before_send":
            raise Crash
        real_deliver(sink, msg)
        if point == "after_send":
            raise Crash

    def append_log(path: str, msg: dict, offset: int | None = None) -> int:
        if point != "mid_log_write":
            return real_append(path, msg, offset)
        half = {**msg, "alerts": msg["alerts"][: len(msg["alerts"]) // 2]}
        real_append(path, half, offset)
        with open(path, "a") as handle:
            handle.write('{"half a li')
        raise Crash

    monkeypatch.setattr(dispatch, "deliver", deliver)
    monkeypatch.setattr(dispatch, "append_log", append_log)


@pytest.mark.parametrize("point", ["before_send", "after_send", "mid_log_write"])
def test_a_tick_killed_at_any_point_resumes_with_each_alert_once(
    tmp_path: Path, results_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    config = make_config(tmp_path, results_url, {"ops": {"type": "webhook", "url_env": "OPS_URL"}})
    wh = Warehouse.open(config.warehouse)
    state = engine.State()
    cursor = state.to_json()  # what Dagster keeps: the cursor of the last completed tick
    with monkeypatch.context() as patch:
        crash_in(patch, point)
        with pytest.raises(Crash):
            dispatch.tick(state, failures(), config, wh, NOW)
    # the sensor restarts from the stored cursor and reads the same evaluations again
    report = dispatch.tick(
        engine.State.from_json(cursor), failures(), config, wh, NOW + timedelta(seconds=30)
    )
    assert report.alerts == 6 and report.pending == 0
    assert len(receiver.keys) == 1  # one message to ops, exactly once
    assert receiver.duplicates == (1 if point == "after_send" else 0)  # re-sent, dropped by its key
    logged = log_lines(config)
    assert len(logged) == 6 and len({a["alert_id"] for a in logged}) == 6  # one line per alert
    rows = table(config, catalog.alerts)
    assert {(r["sink"], r["delivery_state"]) for r in rows} == {("log", "delivered"), ("ops", "delivered")}
    assert len(rows) == 12 and {a["alert_id"] for a in logged} == {r["alert_id"] for r in rows}
    messages = table(config, catalog.alert_messages)
    assert sorted((m["sink"], m["delivery_state"]) for m in messages) == [
        ("log", "delivered"),
        ("ops", "delivered"),
    ]
    # a third tick, again from the old cursor: the same alerts, already in the outbox, send nothing
    dispatch.tick(engine.State.from_json(cursor), failures(), config, wh, NOW + timedelta(seconds=60))
    assert len(receiver.requests) == (2 if point == "after_send" else 1) and len(log_lines(config)) == 6


def test_the_rate_limit_keeps_messages_in_the_outbox_until_the_hour_has_room(
    tmp_path: Path, results_url: str, receiver: Receiver
) -> None:
    config = make_config(
        tmp_path, results_url, {"ops": {"type": "webhook", "url_env": "OPS_URL", "rate_limit_per_hour": 1}}
    )
    wh, state = Warehouse.open(config.warehouse), engine.State()
    report = dispatch.tick(state, failures(MODELS[0]) + failures(MODELS[1]), config, wh, NOW)
    assert (report.delivered, report.pending) == (3, 1)  # both logs and one ops message; one waits
    assert dispatch.tick(state, [], config, wh, NOW + timedelta(minutes=59)).delivered == 0
    assert dispatch.tick(state, [], config, wh, NOW + timedelta(minutes=61)).delivered == 1
    assert sorted(m["model"] for m in receiver.delivered()) == sorted(MODELS)


def test_a_refused_message_fails_at_once_and_a_failing_sink_gives_up_after_max_attempts(
    tmp_path: Path, results_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Receiver()
    monkeypatch.setenv("OTHER_URL", other.url)
    config = make_config(
        tmp_path,
        results_url,
        {
            "ops": {"type": "webhook", "url_env": "OPS_URL"},
            "other": {"type": "webhook", "url_env": "OTHER_URL"},
        },
        max_attempts=3,
    )
    receiver.statuses = [400]  # refused: retrying the same message cannot help
    other.statuses = [503, 503, 503]
    wh, state = Warehouse.open(config.warehouse), engine.State()
    for i in range(4):
        dispatch.tick(state, failures() if i == 0 else [], config, wh, NOW + timedelta(seconds=i))
    other.server.shutdown()
    by_sink = {m["sink"]: m for m in table(config, catalog.alert_messages)}
    assert (by_sink["ops"]["delivery_state"], by_sink["ops"]["attempts"]) == ("failed", 1)
    assert by_sink["ops"]["last_error"] == "sink 'ops': HTTP 400"
    assert (by_sink["other"]["delivery_state"], by_sink["other"]["attempts"]) == ("failed", 3)
    assert len(other.requests) == 3 and len(receiver.requests) == 1
    assert by_sink["log"]["delivery_state"] == "delivered"


def test_every_kind_of_sink_failure_is_contained_named_and_redacted(
    tmp_path: Path, results_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = Receiver(hold_first=3.0)
    port = receiver.server.server_address[1]
    urls = {
        "NO_SCHEME_URL": f"hooks.slack.example/services/{SECRET}",
        "NO_HOST_URL": f"http://no-such-host-{SECRET.replace('/', '-').lower()}.invalid/x",
        "TLS_URL": f"https://127.0.0.1:{port}/services/{SECRET}",  # TLS to a plain HTTP server
        "REFUSED_URL": f"http://127.0.0.1:{free_port()}/services/{SECRET}",  # nothing listens
        "SLOW_URL": slow.url,
    }
    for name, url in urls.items():
        monkeypatch.setenv(name, url)
    hooks = {name.removesuffix("_URL").lower(): {"type": "webhook", "url_env": name} for name in urls}
    hooks["slow"]["timeout_seconds"] = 1
    hooks["unset"] = {"type": "webhook", "url_env": "NOT_SET_ANYWHERE"}
    config = make_config(tmp_path, results_url, {**hooks, "ops": {"type": "webhook", "url_env": "OPS_URL"}})
    report = dispatch.tick(engine.State(), failures(), config, Warehouse.open(config.warehouse), NOW)
    slow.server.shutdown()
    assert report.delivered == 2 and report.failed == 6  # the log and ops; the six others, each its own
    errors = {
        m["sink"]: (m["delivery_state"], m["last_error"]) for m in table(config, catalog.alert_messages)
    }
    assert errors["ops"] == errors["log"] == ("delivered", None)
    assert errors["no_scheme"] == (
        "retrying",
        "sink 'no_scheme': $NO_SCHEME_URL does not hold an http(s) URL with a host",
    )
    assert errors["no_host"][0] == "retrying" and errors["no_host"][1].startswith(
        "sink 'no_host': DNS lookup failed"
    )
    assert errors["tls"][0] == "retrying" and errors["tls"][1].startswith("sink 'tls': TLS error")
    assert errors["refused"] == ("retrying", "sink 'refused': ConnectionRefusedError: Connection refused")
    assert errors["slow"] == ("retrying", "sink 'slow': timed out")
    assert errors["unset"] == (
        "retrying",
        "sink 'unset': environment variable 'NOT_SET_ANYWHERE' (url_env) is not set",
    )
    stored = json.dumps([table(config, t) for t in (catalog.alerts, catalog.alert_messages)], default=str)
    assert SECRET not in stored and SECRET.replace("/", "-").lower() not in stored


def test_a_queue_kept_in_the_cursor_by_the_previous_release_is_delivered_from_the_outbox(
    tmp_path: Path, results_url: str, receiver: Receiver
) -> None:
    config = make_config(tmp_path, results_url, {"ops": {"type": "webhook", "url_env": "OPS_URL"}})
    alerts = engine.update(engine.State(), failures(), config.dagster_ui_url, NOW)
    msg = engine.message(MODELS[0], "ops", alerts, NOW, 1e5)
    legacy = {k: v for k, v in msg.items() if k != "idempotency_key"}
    old = {
        "open": {},
        "sent": {},
        "checks": {},
        "pending": [{"sink": "ops", "message": legacy, "attempts": 2}],
    }
    state = engine.State.from_json(json.dumps(old))
    dispatch.tick(state, [], config, Warehouse.open(config.warehouse), NOW)
    assert receiver.keys == [msg["message_id"]] and state.pending == []
    assert receiver.delivered()[0]["alert_ids"] == [a.alert_id for a in alerts]
