"""One sensor tick's work, without Dagster: per-hour outcomes -> alerts -> messages in the outbox ->
deliveries, and the `alerts` table (one row per alert and sink, with its delivery state)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from monitoring_pipeline.alerts import engine, outbox
from monitoring_pipeline.alerts.sinks import SinkError, append_log, deliver, log_size
from monitoring_pipeline.checks import run_rows
from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.results import ResultsStore
from monitoring_pipeline.storage.warehouse import Warehouse

LOG = "log"  # the always-on JSON-lines log: a sink of its own in the outbox


@dataclass(frozen=True)
class TickReport:
    alerts: int
    delivered: int
    failed: int
    pending: int


def tick(
    state: engine.State,
    outcomes: Sequence[engine.CheckRow],
    config: MonitorsConfig,
    warehouse: Warehouse,
    now: datetime | None = None,
) -> TickReport:
    """New alerts from the outcomes, committed to the outbox, then every due delivery sent."""
    now = now or datetime.now(UTC)
    _drain_cursor_queue(state, warehouse.results, now)
    alerts = engine.update(state, outcomes, config.dagster_ui_url, now)
    enqueue(alerts, config, warehouse.results, now)
    mark_processed(warehouse.results, outcomes, now)  # after: a crash between replays the tick
    delivered, failed = deliver_due(config, warehouse.results, now)
    return TickReport(len(alerts), delivered, failed, outbox.open_count(warehouse.results))


def enqueue(
    alerts: Sequence[engine.Alert], config: MonitorsConfig, results: ResultsStore, now: datetime
) -> int:
    """Group the alerts into one message per model and sink and commit them, with their alerts' rows, to
    the outbox. An (alert, sink) pair already there (a tick replayed after a crash) is left out."""
    routes = {m.name: [(r.sink, r.min_severity) for r in m.alerts] for m in config.models}
    stored = outbox.stored_deliveries(results, [a.alert_id for a in alerts])
    batch = []
    for (model, sink), routed in engine.route(alerts, routes).items():
        items = [a for a in routed if (a.alert_id, sink) not in stored]
        if not items:
            continue
        # the log lists every alert; other sinks get older hours counted per check
        after = math.inf if sink == LOG else config.alerting.summarize_hours_older_than
        msg = engine.message(model, sink, items, now, after)
        newest = max(datetime.fromisoformat(a.hour) for a in items)
        batch.append((msg, sink, newest, [_row(a, now) for a in items]))
    return outbox.record(results, batch, now)


def mark_processed(results: ResultsStore, outcomes: Sequence[engine.CheckRow], now: datetime) -> None:
    """Stamp each evaluation's check_history row as processed, its alerts (if any) being in the outbox:
    what tells a report that the hour's alerts are final. By key: the cost follows the tick."""
    t = catalog.check_history
    stmt = (
        sa.update(t)
        .where(
            t.c.model == sa.bindparam("b_model"),
            t.c.check_name == sa.bindparam("b_check"),
            t.c.partition_hour == sa.bindparam("b_hour"),
            t.c.run_id == sa.bindparam("b_run"),
        )
        .values(alert_processed_at=now)
    )
    keys = [{"b_model": o.model, "b_check": o.check, "b_hour": o.hour, "b_run": o.run_id} for o in outcomes]
    if keys:
        with results.transaction() as conn:
            conn.execute(stmt, keys)


def unprocessed_checks(
    results: ResultsStore, model: str, hour: datetime, latest: Sequence[dict]
) -> list[str]:
    """The checks among `latest` (the hour's check_results rows) whose latest evaluation the alert
    sensor has not processed yet. Reads the hour's evaluations by index (model, hour)."""
    rows = results.hour_rows(
        catalog.check_history, model, [hour], "check_name", "run_id", "alert_processed_at"
    )
    done = {(r["check_name"], r["run_id"]) for r in rows if r["alert_processed_at"] is not None}
    return [c["check_name"] for c in latest if (c["check_name"], c["run_id"]) not in done]


def deliver_due(config: MonitorsConfig, results: ResultsStore, now: datetime) -> tuple[int, int]:
    """Send every due message once; returns (delivered, failed this tick). A failure is that sink's
    alone: it is recorded on the message (redacted) and the other messages go on."""
    sinks, alerting = config.alerting.sinks, config.alerting
    delivered = failed = 0
    for m in outbox.due(results, now, {name: s.rate_limit_per_hour for name, s in sinks.items()}):
        msg, sink, attempts = json.loads(m["payload"]), m["sink"], m["attempts"] + 1
        try:
            if sink == LOG:
                # a write interrupted by a crash is cut back to where it started, then written again
                start = m["log_offset"] if m["delivery_state"] == "sending" else None
                start = log_size(alerting.log_path) if start is None else start
                outbox.mark(results, m, "sending", now, attempts, log_offset=start)
                try:
                    append_log(alerting.log_path, msg, start)
                except OSError as exc:
                    raise SinkError(f"the alert log {alerting.log_path}: {exc.strerror}") from None
            else:
                if sink not in sinks:
                    raise SinkError(f"sink {sink!r} is no longer configured", permanent=True)
                outbox.mark(results, m, "sending", now, attempts)
                deliver(sinks[sink], msg)
        except SinkError as exc:
            final = exc.permanent or attempts >= alerting.max_attempts
            retry_at = now + engine.backoff(attempts, alerting.retry_base_seconds)
            outbox.mark(results, m, "failed" if final else "retrying", now, attempts, str(exc), retry_at)
            failed += 1
            continue
        outbox.mark(results, m, "delivered", now, attempts)
        delivered += 1
    return delivered, failed


def run_failed(
    config: MonitorsConfig, results: ResultsStore, failure: engine.RunFailure, now: datetime
) -> int:
    """A failed run's alert into the outbox (delivered by the alert sensor's next tick), and the run kept
    open until its hours succeed. Both are idempotent: a replayed sensor tick adds nothing."""
    alert = engine.run_failure_alert(failure, config.dagster_ui_url, now)
    queued = enqueue([alert], config, results, now)
    hours = sorted(failure.hours)
    row = {
        "model": failure.model,
        "run_id": failure.run_id,
        "partition_hour": datetime.fromisoformat(alert.hour),
        "last_hour": hours[-1] if hours else None,
        "job": failure.job,
        "step": failure.step,
        "error": failure.error,
        "failed_at": failure.failed_at,
        "open_hours": json.dumps([h.isoformat() for h in hours]),
        # an unpartitioned run has no hours to succeed later: nothing to recover
        "recovered_at": None if hours else failure.failed_at,
    }
    results.insert_missing(catalog.run_failures, [row])
    return queued


def run_succeeded(
    config: MonitorsConfig,
    results: ResultsStore,
    model: str,
    run_id: str,
    hours: Collection[datetime],
    now: datetime,
) -> int:
    """A successful run of a model closes the hours it covered in the model's open failed runs; a failed
    run whose hours have all succeeded since gets one recovery notice. Reads only the open ones."""
    t = catalog.run_failures
    open_runs = results.rows(sa.select(t).where(t.c.model == model, t.c.recovered_at.is_(None)))
    covered = {h.isoformat() for h in hours}
    recoveries, updates = [], []
    for r in open_runs:
        still_open = json.loads(r["open_hours"])
        remaining = [h for h in still_open if h not in covered]
        if len(remaining) == len(still_open):
            continue
        done = not remaining
        updates.append(
            {
                **r,
                "open_hours": json.dumps(remaining),
                "recovered_by": run_id if done else None,
                "recovered_at": now if done else None,
            }
        )
        if done:
            recoveries.append(
                engine.run_recovery_alert(
                    model, r["run_id"], r["job"], r["partition_hour"], run_id, config.dagster_ui_url, now
                )
            )
    enqueue(recoveries, config, results, now)  # first: a crash before the update replays it, deduplicated
    results.upsert(t, updates)
    return len(recoveries)


def _drain_cursor_queue(state: engine.State, results: ResultsStore, now: datetime) -> None:
    """Deliveries that a release before the outbox kept in the cursor move into the outbox (their
    alerts' rows are already stored)."""
    batch = []
    for item in state.pending:
        msg = item["message"]
        hours = [datetime.fromisoformat(a["hour"]) for a in msg.get("alerts", [])]
        batch.append(
            ({"idempotency_key": msg["message_id"], **msg}, item["sink"], max(hours, default=now), [])
        )
    outbox.record(results, batch, now)
    state.pending = []


def _row(alert: engine.Alert, now: datetime) -> dict[str, Any]:
    """An alert's row for one sink (the outbox adds the sink and the message id)."""
    base: dict[str, Any] = {c.name: None for c in catalog.alerts.columns}
    a = asdict(alert)
    base.update(
        alert_id=a["alert_id"],
        kind=a["kind"],
        model=a["model"],
        asset=a["asset"],
        check_name=a["check"],
        partition_hour=datetime.fromisoformat(a["hour"]),
        severity=a["severity"],
        observed=a["observed"],
        threshold=a["threshold"],
        description=a["description"],
        url=a["url"],
        created_at=datetime.fromisoformat(a["created_at"]),
        delivery_state="pending",
        attempts=0,
        updated_at=now,
    )
    return base


def outcomes_of_run(
    warehouse: Warehouse, model: str, check: str, run_id: str, hours: Collection[datetime] | None = None
) -> list[engine.CheckRow]:
    """The per-hour rows a run's evaluations of a check wrote to check_history (see
    monitoring_pipeline.checks): those of `hours`, or all of the run's."""
    return [
        engine.CheckRow(
            r["model"],
            r["asset"],
            r["check_name"],
            r["partition_hour"],
            r["passed"],
            r["severity"],
            r["observed"],
            r["threshold"],
            r["description"],
            r["run_id"],
        )
        for r in run_rows(warehouse, model, [check], run_id)
        if hours is None or r["partition_hour"] in hours
    ]
