"""The report's alerts section says whether the alert sensor has processed the hour's checks, on SQLite
and on a real PostgreSQL: check rows written by the checks' own writer, processed by ticking the alert
sensor's dispatch (the sensor's work without Dagster), read back as the report reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from monitoring_pipeline import checks
from monitoring_pipeline.alerts import dispatch, engine
from monitoring_pipeline.checks.evaluations import CheckOutcome
from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.publish.reports import alert_state, alerts_section
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.results import MIGRATIONS, ResultsStore, engine_for
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.publish.test_reports_prometheus import parse
from monitoring_pipeline_tests.storage.test_alert_outbox import make_config

MODEL = "fraud_classifier"
HOUR = datetime(2026, 11, 24, 8, tzinfo=UTC)
NOW = HOUR + timedelta(hours=2)


def evaluate(wh: Warehouse, check: str, run_id: str, passed: bool, hour: datetime = HOUR) -> None:
    """One evaluation of `check` on `hour` by run `run_id`, recorded as a run records it."""
    outcome = CheckOutcome(check, hour, passed, "ERROR", 0.0 if not passed else 5.0, 1.0, "rows in the hour")
    checks.record(wh, MODEL, "prediction_logs", check, run_id, [outcome])


def tick(wh: Warehouse, config: MonitorsConfig, state: engine.State, check: str, run_id: str) -> None:
    """The alert sensor's tick for one new evaluation: its outcomes read by run, then dispatched."""
    dispatch.tick(state, dispatch.outcomes_of_run(wh, MODEL, check, run_id), config, wh, NOW)


def section(wh: Warehouse, hour: datetime = HOUR) -> tuple[str, str, list[str]]:
    """(state, sentence, the alert rows' check names) as the hour report shows them."""
    latest = wh.results.hour_rows(catalog.check_results, MODEL, [hour])
    page = parse(alerts_section(wh, MODEL, hour, latest))
    [status] = [a for t, a in page.tags if t == "p" and a.get("id") == "alert-status"]
    assert status["data-state"] == alert_state(wh, MODEL, hour, latest)[0]
    rows = [text for text in page.text if text in ("hour_is_not_empty", "volume_within_band")]
    return status["data-state"], page.text[0], rows


def test_the_report_follows_the_alert_sensor_through_an_hour(tmp_path: Path, results_url: str) -> None:
    config = make_config(tmp_path, results_url, {})  # the log sink only: it takes every alert
    wh, state = Warehouse.open(config.warehouse), engine.State()
    assert section(wh)[0] == "no_checks"
    evaluate(wh, "hour_is_not_empty", "run-1", passed=False)
    evaluate(wh, "volume_within_band", "run-1", passed=True)
    state_, sentence, alerts = section(wh)
    assert state_ == "waiting" and "has not processed this hour's checks yet" in sentence and not alerts

    tick(wh, config, state, "volume_within_band", "run-1")
    state_, sentence, alerts = section(wh)
    assert state_ == "partial" and sentence.endswith("not yet: hour_is_not_empty.") and not alerts

    tick(wh, config, state, "hour_is_not_empty", "run-1")
    state_, sentence, alerts = section(wh)
    assert state_ == "processed" and alerts == ["hour_is_not_empty"]  # its alert, to the log sink

    # a later run evaluates the hour again: the report waits for the sensor on that evaluation
    evaluate(wh, "hour_is_not_empty", "run-2", passed=True)
    assert section(wh)[0] == "partial"
    tick(wh, config, state, "hour_is_not_empty", "run-2")
    state_, _, alerts = section(wh)
    assert state_ == "processed" and alerts == ["hour_is_not_empty", "hour_is_not_empty"]  # + recovery
    kinds = [r["kind"] for r in wh.results.hour_rows(catalog.alerts, MODEL, [HOUR])]
    assert sorted(kinds) == ["failure", "recovery"]


def test_a_processed_hour_whose_checks_passed_says_no_alert(tmp_path: Path, results_url: str) -> None:
    config = make_config(tmp_path, results_url, {})
    wh, state = Warehouse.open(config.warehouse), engine.State()
    other = HOUR + timedelta(hours=1)
    for check in ("hour_is_not_empty", "volume_within_band"):
        evaluate(wh, check, "run-1", passed=True)
        evaluate(wh, check, "run-1", passed=False, hour=other)  # another hour of the same run
        tick(wh, config, state, check, "run-1")
    state_, sentence, alerts = section(wh)
    assert state_ == "processed" and sentence.endswith("No alert: every check passed.") and not alerts
    assert section(wh, other)[0] == "processed" and len(section(wh, other)[2]) == 2


def test_a_store_of_the_previous_revision_gains_the_stamp(tmp_path: Path, results_url: str) -> None:
    """Upgraded from revision 0003 with an evaluation in it: that evaluation reads as not processed
    (nothing recorded it), until the sensor processes it."""
    store = ResultsStore(results_url)
    alembic = Config()
    alembic.set_main_option("script_location", str(MIGRATIONS))
    with engine_for(store.url, write=True).begin() as conn:
        alembic.attributes["connection"] = conn
        command.upgrade(alembic, "0003")
        assert "alert_processed_at" not in {c["name"] for c in sa.inspect(conn).get_columns("check_history")}
        row = {"model": MODEL, "check_name": "hour_is_not_empty", "partition_hour": HOUR, "run_id": "run-0"}
        row |= {"asset": "prediction_logs", "passed": True, "severity": "ERROR"}
        # the table as revision 0003 has it: no alert_processed_at
        names = [sa.column(k, catalog.TS if k == "partition_hour" else None) for k in row]
        conn.execute(sa.insert(sa.table("check_history", *names)), [row])
        conn.execute(sa.insert(catalog.check_results), [row])
    config = make_config(tmp_path, results_url, {})
    wh = Warehouse.open(config.warehouse)
    assert section(wh)[0] == "waiting"  # the first read migrates to head
    tick(wh, config, engine.State(), "hour_is_not_empty", "run-0")
    assert section(wh)[0] == "processed"
