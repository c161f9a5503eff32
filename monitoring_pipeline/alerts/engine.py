"""The alerting state machine, on plain data (no Dagster, no network): which per-hour check outcomes
become alerts, how alerts group into messages, and when a failed delivery is retried.

Every id is deterministic, so a tick that dies and is replayed makes the same alerts and messages:
- an alert's id is a hash of (model, check, hour, kind, the run whose evaluation raised it);
- a message's id, which receivers get as its idempotency key, is a hash of its sink and its alerts' ids.

State (kept in the sensor's cursor): `open`, the (model, check, hour) keys that alerted and have not
recovered (a failure alerts once), and `checks`, the event-log position of each check. Deliveries are
not in the cursor: they are rows of the outbox (monitoring_pipeline.alerts.outbox).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SEVERITY_RANK = {"WARN": 0, "ERROR": 1}
MAX_BACKOFF_SECONDS = 3600.0
OPEN_RETENTION = timedelta(days=30)  # open failures older than this are forgotten (no recovery notice)


@dataclass(frozen=True)
class CheckRow:
    """One per-hour row of check_results."""

    model: str
    asset: str
    check: str
    hour: datetime
    passed: bool
    severity: str
    observed: float | None
    threshold: float | None
    description: str
    run_id: str = ""  # the run whose evaluation this is


@dataclass(frozen=True)
class Alert:
    alert_id: str
    kind: str  # "failure" or "recovery"
    model: str
    asset: str
    check: str
    hour: str  # ISO, UTC
    severity: str
    observed: float | None
    threshold: float | None
    description: str
    url: str
    created_at: str


@dataclass
class State:
    open: dict[str, str] = field(default_factory=dict)  # key -> ISO hour
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # check key -> event-log cursor
    # deliveries queued in the cursor by releases before the outbox: moved into it on the next tick
    pending: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> State:
        if not text:
            return cls()
        stored = json.loads(text)
        return cls(**{k: v for k, v in stored.items() if k in cls.__dataclass_fields__})


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def alert_id(model: str, check: str, hour: datetime, kind: str, run_id: str) -> str:
    return _digest(model, check, f"{hour.astimezone(UTC):%Y-%m-%dT%H:00}", kind, run_id)


def message_id(sink: str, alert_ids: Iterable[str]) -> str:
    return _digest(sink, *sorted(alert_ids))


def alert_key(model: str, check: str, hour: datetime) -> str:
    return f"{model}|{check}|{hour.astimezone(UTC):%Y-%m-%dT%H:00}"


def asset_url(ui_url: str, model: str, asset: str, hour: datetime) -> str:
    return f"{ui_url}/assets/{model}/{asset}?view=checks&partition={hour:%Y-%m-%d-%H:00}"


def update(state: State, outcomes: Iterable[CheckRow], ui_url: str, now: datetime) -> list[Alert]:
    """New alerts from per-hour outcomes (oldest evaluation first): a failure of a key that is not
    open alerts and opens it; a pass of an open key sends one recovery notice and closes it."""
    alerts = []
    for o in outcomes:
        key = alert_key(o.model, o.check, o.hour)
        if o.passed == (key not in state.open):
            continue  # still failing (already alerted) or still passing
        kind = "recovery" if o.passed else "failure"
        if o.passed:
            del state.open[key]
        else:
            state.open[key] = o.hour.isoformat()
        alerts.append(
            Alert(
                alert_id(o.model, o.check, o.hour, kind, o.run_id),
                kind,
                o.model,
                o.asset,
                o.check,
                o.hour.isoformat(),
                o.severity,
                o.observed,
                o.threshold,
                o.description,
                asset_url(ui_url, o.model, o.asset, o.hour),
                now.isoformat(),
            )
        )
    cutoff = now - OPEN_RETENTION
    state.open = {k: h for k, h in state.open.items() if datetime.fromisoformat(h) >= cutoff}
    return alerts


def route(
    alerts: Sequence[Alert], routes: Mapping[str, Sequence[tuple[str, str]]]
) -> dict[tuple[str, str], list[Alert]]:
    """(model, sink) -> the alerts that sink takes: at or above its minimum severity for the model.
    Recoveries go wherever their failure would have gone. The log sink takes everything."""
    out: dict[tuple[str, str], list[Alert]] = {}
    for a in alerts:
        out.setdefault((a.model, "log"), []).append(a)
        for sink, min_severity in routes.get(a.model, ()):
            if SEVERITY_RANK[a.severity] >= SEVERITY_RANK[min_severity]:
                out.setdefault((a.model, sink), []).append(a)
    return out


def message(
    model: str, sink: str, alerts: Sequence[Alert], now: datetime, summarize_after_hours: float
) -> dict[str, Any]:
    """One message for a model and sink: recent alerts listed one by one, alerts for hours older than
    `summarize_after_hours` (a backfill of last month) counted per check instead."""
    no_summary = math.isinf(summarize_after_hours)  # the log sink: every alert listed
    cutoff = datetime.min.replace(tzinfo=UTC) if no_summary else now - timedelta(hours=summarize_after_hours)
    recent = [a for a in alerts if datetime.fromisoformat(a.hour) >= cutoff]
    old = [a for a in alerts if datetime.fromisoformat(a.hour) < cutoff]
    summary: dict[str, dict[str, Any]] = {}
    for a in old:
        s = summary.setdefault(
            f"{a.check} {a.kind}",
            {
                "check": a.check,
                "kind": a.kind,
                "hours": 0,
                "first": a.hour,
                "last": a.hour,
                "severity": a.severity,
            },
        )
        s["hours"] += 1
        s["first"], s["last"] = min(s["first"], a.hour), max(s["last"], a.hour)
        if SEVERITY_RANK[a.severity] > SEVERITY_RANK[s["severity"]]:
            s["severity"] = a.severity
    failures = [a for a in alerts if a.kind == "failure"]
    severity = max((a.severity for a in failures), key=SEVERITY_RANK.__getitem__, default="WARN")
    title = (
        f"{model}: {len(failures)} check failure(s), {len(alerts) - len(failures)} recovery(ies)"
        f" [{severity if failures else 'OK'}]"
    )
    ident = message_id(sink, [a.alert_id for a in alerts])
    return {
        "message_id": ident,
        "idempotency_key": ident,
        "model": model,
        "title": title,
        "severity": severity,
        "created_at": now.isoformat(),
        "alerts": [asdict(a) for a in recent],
        "summarized": sorted(summary.values(), key=lambda s: s["first"]),
        "alert_ids": [a.alert_id for a in alerts],
    }


def text(msg: Mapping[str, Any]) -> str:
    """Plain text of a message (Slack's `text`, the email body)."""
    lines = [msg["title"]]
    for a in msg["alerts"]:
        observed = "" if a["observed"] is None else f" observed {a['observed']:.4g}"
        threshold = "" if a["threshold"] is None else f" (threshold {a['threshold']:.4g})"
        verb = "FAILED" if a["kind"] == "failure" else "recovered"
        lines.append(
            f"- {a['severity']} {a['check']} {verb} for {a['hour'][:13]}:00 UTC:{observed}{threshold}"
            f" {a['description']} {a['url']}"
        )
    for s in msg["summarized"]:
        lines.append(
            f"- {s['check']}: {s['hours']} older hour(s) {s['kind']} from {s['first'][:13]}:00 "
            f"to {s['last'][:13]}:00 UTC (summarised)"
        )
    return "\n".join(lines)


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """The wait before retrying a delivery that failed `attempts` times: base * 2^(attempts - 1), at most
    an hour."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


RUN_CHECK = "run_failed"  # the check name run-failure alerts go by


@dataclass(frozen=True)
class RunFailure:
    """A failed run of a model's job: the step that failed and the first line of its error."""

    model: str
    run_id: str
    job: str
    step: str | None
    error: str
    hours: tuple[datetime, ...]  # the run's partitions; empty for an unpartitioned run
    failed_at: datetime


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url}/runs/{run_id}"


def _span(hours: Sequence[datetime]) -> str:
    if not hours:
        return "no hours"
    first, last = min(hours), max(hours)
    return f"{first:%Y-%m-%d %H}:00" + ("" if first == last else f" to {last:%Y-%m-%d %H}:00")


def run_failure_alert(f: RunFailure, ui_url: str, now: datetime) -> Alert:
    first = min(f.hours, default=f.failed_at.replace(minute=0, second=0, microsecond=0))
    where = f"step {f.step}" if f.step else "the run itself"
    return Alert(
        alert_id(f.model, RUN_CHECK, first, "failure", f.run_id),
        "failure",
        f.model,
        f.job,
        RUN_CHECK,
        first.isoformat(),
        "ERROR",
        None,
        None,
        f"run {f.run_id[:8]} of {f.job} ({_span(f.hours)}) failed at {where}: {f.error}",
        run_url(ui_url, f.run_id),
        now.isoformat(),
    )


def run_recovery_alert(
    model: str, failed_run: str, job: str, first: datetime, by_run: str, ui_url: str, now: datetime
) -> Alert:
    return Alert(
        alert_id(model, RUN_CHECK, first, "recovery", failed_run),
        "recovery",
        model,
        job,
        RUN_CHECK,
        first.isoformat(),
        "ERROR",
        None,
        None,
        f"every hour of failed run {failed_run[:8]} of {job} has succeeded since (last: run {by_run[:8]})",
        run_url(ui_url, by_run),
        now.isoformat(),
    )
