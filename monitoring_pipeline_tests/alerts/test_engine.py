"""The alert state machine on plain data: dedup, recovery, routing, summaries, rate limit, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring_pipeline.alerts import engine

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def outcome(
    check: str, hours_ago: int, passed: bool, severity: str = "WARN", model: str = "m"
) -> engine.CheckRow:
    return engine.CheckRow(
        model, "prediction_logs", check, NOW - timedelta(hours=hours_ago), passed, severity, 0.0, 1.0, "d"
    )


def test_a_failure_alerts_once_and_recovers_once() -> None:
    state = engine.State()
    first = engine.update(state, [outcome("c", 2, False)], "http://ui", NOW)
    assert [a.kind for a in first] == ["failure"] and first[0].url == (
        "http://ui/assets/m/prediction_logs?view=checks&partition=2026-11-24-10:00"
    )
    assert (
        engine.update(state, [outcome("c", 2, False)], "http://ui", NOW) == []
    )  # same failure again: silent
    state = engine.State.from_json(state.to_json())  # a sensor restart keeps the state
    assert engine.update(state, [outcome("c", 2, False)], "http://ui", NOW) == []
    recovered = engine.update(state, [outcome("c", 2, True)], "http://ui", NOW)
    assert [a.kind for a in recovered] == ["recovery"]
    assert engine.update(state, [outcome("c", 2, True)], "http://ui", NOW) == []  # passing stays quiet


def test_routes_by_severity_and_log_takes_everything() -> None:
    alerts = engine.update(
        engine.State(), [outcome("a", 1, False, "WARN"), outcome("b", 1, False, "ERROR")], "u", NOW
    )
    routed = engine.route(alerts, {"m": [("pager", "ERROR"), ("chat", "WARN")]})
    assert {k: [a.check for a in v] for k, v in routed.items()} == {
        ("m", "log"): ["a", "b"],
        ("m", "pager"): ["b"],
        ("m", "chat"): ["a", "b"],
    }


def test_old_hours_are_summarised_in_one_message() -> None:
    outcomes = [outcome("hour_is_not_empty", h, False, "ERROR") for h in range(1, 49 + 24 * 30)]
    alerts = engine.update(engine.State(), outcomes, "u", NOW)
    msg = engine.message("m", alerts, NOW, summarize_after_hours=48)
    assert len(msg["alerts"]) == 48 and len(msg["alert_ids"]) == len(outcomes)
    [summary] = msg["summarized"]
    assert summary["hours"] == len(outcomes) - 48 and summary["severity"] == "ERROR"
    assert "summarised" in engine.text(msg) and msg["severity"] == "ERROR"


def test_rate_limit_and_backoff() -> None:
    state = engine.State()
    for i in range(5):
        engine.enqueue(state, "chat", {"message_id": str(i), "alert_ids": []}, NOW)
    due = engine.due(state, NOW, {"chat": 3})
    assert len(due) == 3
    for item in due:
        engine.delivered(state, item, NOW)
    assert engine.due(state, NOW + timedelta(minutes=30), {"chat": 3}) == []  # 3 sent within the hour
    later = engine.due(state, NOW + timedelta(minutes=61), {"chat": 3})
    assert len(later) == 2
    engine.failed(state, later[0], "HTTP 500", NOW + timedelta(minutes=61), base_seconds=60)
    assert later[0]["attempts"] == 1 and later[0]["next_at"] == (NOW + timedelta(minutes=62)).isoformat()
    engine.failed(state, later[0], "HTTP 500", NOW + timedelta(minutes=62), base_seconds=60)
    assert later[0]["next_at"] == (NOW + timedelta(minutes=64)).isoformat()  # doubled
