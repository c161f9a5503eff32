"""The alert state machine on plain data: dedup, recovery, routing, summaries, rate limit, backoff."""

from __future__ import annotations

import dataclasses
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
    msg = engine.message("m", "chat", alerts, NOW, summarize_after_hours=48)
    assert len(msg["alerts"]) == 48 and len(msg["alert_ids"]) == len(outcomes)
    [summary] = msg["summarized"]
    assert summary["hours"] == len(outcomes) - 48 and summary["severity"] == "ERROR"
    assert "summarised" in engine.text(msg) and msg["severity"] == "ERROR"


def test_ids_are_deterministic_so_a_replayed_tick_makes_the_same_alerts_and_messages() -> None:
    outcomes = [outcome("a", 1, False), outcome("b", 2, False)]
    first = engine.update(engine.State(), outcomes, "u", NOW)
    again = engine.update(engine.State(), outcomes, "u", NOW + timedelta(seconds=30))
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    assert len({a.alert_id for a in first}) == 2
    # the same key failing again in a later run, after recovering, is a new alert
    state = engine.State()
    engine.update(state, [outcome("a", 1, False)], "u", NOW)
    engine.update(state, [outcome("a", 1, True)], "u", NOW)
    [refail] = engine.update(state, [dataclasses.replace(outcome("a", 1, False), run_id="run-2")], "u", NOW)
    assert refail.alert_id != first[0].alert_id
    one = engine.message("m", "chat", first, NOW, 48)
    other = engine.message("m", "chat", list(reversed(again)), NOW + timedelta(seconds=30), 48)
    assert one["message_id"] == other["message_id"] == one["idempotency_key"]
    assert engine.message("m", "pager", first, NOW, 48)["message_id"] != one["message_id"]


def test_backoff_doubles_up_to_an_hour() -> None:
    waits = [engine.backoff(n, 60).total_seconds() for n in range(1, 9)]
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_a_cursor_of_the_previous_release_still_loads() -> None:
    old = '{"open": {"k": "2026-11-24T10:00:00+00:00"}, "pending": [], "sent": {"chat": []}, "checks": {}}'
    assert engine.State.from_json(old).open == {"k": "2026-11-24T10:00:00+00:00"}
