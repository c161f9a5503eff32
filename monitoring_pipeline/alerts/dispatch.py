"""One sensor tick's work, without Dagster: per-hour outcomes -> alerts -> messages -> deliveries,
and the `alerts` table (one row per alert and sink, with its delivery state)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from monitoring_pipeline.alerts import engine
from monitoring_pipeline.alerts.sinks import SinkError, append_log, deliver
from monitoring_pipeline.checks import run_rows
from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse


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
    now = now or datetime.now(UTC)
    alerts = engine.update(state, outcomes, config.dagster_ui_url, now)
    by_id = {a.alert_id: a for a in alerts}
    routes = {m.name: [(r.sink, r.min_severity) for r in m.alerts] for m in config.models}
    rows: list[dict[str, Any]] = []
    for (model, sink), items in engine.route(alerts, routes).items():
        if sink == "log":  # always on, local: written now, in full
            msg = engine.message(model, items, now, summarize_after_hours=float("inf"))
            append_log(config.alerting.log_path, msg)
            rows += [_row(a, "log", msg["message_id"], "delivered", 0, None, now) for a in items]
        else:
            msg = engine.message(model, items, now, config.alerting.summarize_hours_older_than)
            engine.enqueue(state, sink, msg, now)
    sinks = config.alerting.sinks
    delivered = failed = 0
    for item in engine.due(state, now, {name: s.rate_limit_per_hour for name, s in sinks.items()}):
        msg, sink = item["message"], item["sink"]
        try:
            if sink not in sinks:
                raise SinkError(f"sink {sink!r} is no longer configured")
            deliver(sinks[sink], msg)
            engine.delivered(state, item, now)
            delivered += 1
            status, error = "delivered", None
        except SinkError as exc:
            engine.failed(state, item, str(exc), now, config.alerting.retry_base_seconds)
            failed += 1
            status, error = "retrying", str(exc)
        rows += [
            _row(by_id.get(i), sink, msg["message_id"], status, item["attempts"], error, now, i, msg["model"])
            for i in msg["alert_ids"]
        ]
    # one row per (alert, sink): written in full once, then only its delivery state changes
    warehouse.results.upsert(catalog.alerts, rows, update=catalog.ALERT_DELIVERY_COLUMNS)
    return TickReport(len(alerts), delivered, failed, len(state.pending))


def _row(
    alert: engine.Alert | None,
    sink: str,
    message_id: str,
    status: str,
    attempts: int,
    error: str | None,
    now: datetime,
    alert_id: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    base: dict[str, Any] = {c.name: None for c in catalog.alerts.columns}
    if alert is not None:
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
        )
    else:  # a retry of a summarised alert: its details are in its first row
        base.update(alert_id=alert_id, model=model)
    base.update(
        sink=sink,
        message_id=message_id,
        delivery_state=status,
        attempts=attempts,
        last_error=error,
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
        )
        for r in run_rows(warehouse, model, [check], run_id)
        if hours is None or r["partition_hour"] in hours
    ]
