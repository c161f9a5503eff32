"""The alert outbox in the results store: messages and their alerts' rows are committed before any send,
and each send marks its message afterwards, so a tick killed at any point resumes from the rows.

A message's life: `pending` -> `sending` (committed just before the send, with the attempt counted) ->
`delivered`, or `retrying` (with a next attempt time) until `failed` (refused by the receiver, or out of
attempts). A message still `sending` at the next tick was interrupted: it is sent again, with the same
idempotency key, so the receiver can drop the duplicate (the log sink cuts its file back instead).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.results import ResultsStore

OPEN = ("pending", "sending", "retrying")
CHUNK = 500  # ids per IN list (SQLite's bound-parameter limit)

msgs, alerts = catalog.alert_messages, catalog.alerts


def stored_deliveries(results: ResultsStore, alert_ids: Iterable[str]) -> set[tuple[str, str]]:
    """The (alert id, sink) pairs already in the outbox, of these alerts (by key: cost follows the tick)."""
    ids, found = sorted(set(alert_ids)), set()
    for i in range(0, len(ids), CHUNK):
        stmt = sa.select(alerts.c.alert_id, alerts.c.sink).where(alerts.c.alert_id.in_(ids[i : i + CHUNK]))
        found |= {(r["alert_id"], r["sink"]) for r in results.rows(stmt)}
    return found


def record(
    results: ResultsStore,
    messages: Sequence[tuple[Mapping[str, Any], str, datetime, Sequence[Mapping[str, Any]]]],
    now: datetime,
) -> int:
    """In one transaction: each (message, sink, newest hour, its alerts' rows), unless already stored."""
    if not messages:
        return 0
    message_rows, alert_rows = [], []
    for msg, sink, hour, rows in messages:
        message_rows.append(
            {
                "message_id": msg["message_id"],
                "sink": sink,
                "model": msg["model"],
                "partition_hour": hour,
                "payload": json.dumps(msg, sort_keys=True),
                "delivery_state": "pending",
                "attempts": 0,
                "next_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
        alert_rows += [{**r, "sink": sink, "message_id": msg["message_id"]} for r in rows]
    with results.transaction() as conn:
        results.insert_missing(msgs, message_rows, conn)
        results.insert_missing(alerts, alert_rows, conn)
    return len(message_rows)


def due(results: ResultsStore, now: datetime, limits: Mapping[str, int]) -> list[dict[str, Any]]:
    """Open messages whose time has come, oldest first, within each sink's hourly rate limit (the
    messages it accepted in the last hour). Reads only open messages and the last hour's sends."""
    stmt = sa.select(msgs).where(msgs.c.delivery_state.in_(OPEN), msgs.c.next_at <= now)
    # an interrupted send first: the log sink's cut-back must not undo a later write
    waiting = sorted(
        results.rows(stmt), key=lambda m: (m["delivery_state"] != "sending", m["created_at"], m["message_id"])
    )
    hour_ago = now - timedelta(hours=1)
    budget: dict[str, int] = {}
    for sink in {m["sink"] for m in waiting} & set(limits):
        sent = sa.select(sa.func.count().label("n")).where(
            msgs.c.sink == sink, msgs.c.delivered_at > hour_ago
        )
        budget[sink] = limits[sink] - results.rows(sent)[0]["n"]
    chosen = []
    for m in waiting:
        if m["sink"] in budget:
            if budget[m["sink"]] <= 0:
                continue
            budget[m["sink"]] -= 1
        chosen.append(m)
    return chosen


def mark(
    results: ResultsStore,
    message: Mapping[str, Any],
    state: str,
    now: datetime,
    attempts: int,
    error: str | None = None,
    next_at: datetime | None = None,
    log_offset: int | None = None,
) -> None:
    """A message's new state, and its alerts' rows for that sink, in one transaction."""
    changes: dict[str, Any] = {
        "delivery_state": state,
        "attempts": attempts,
        "last_error": error,
        "updated_at": now,
        "next_at": next_at or now,
    }
    if state == "delivered":
        changes["delivered_at"] = now
    if log_offset is not None:
        changes["log_offset"] = log_offset
    mine = alerts.c.message_id == message["message_id"], alerts.c.sink == message["sink"]
    with results.transaction() as conn:
        conn.execute(sa.update(msgs).where(msgs.c.message_id == message["message_id"]).values(**changes))
        conn.execute(
            sa.update(alerts)
            .where(*mine)
            .values(delivery_state=state, attempts=attempts, last_error=error, updated_at=now)
        )


def open_count(results: ResultsStore) -> int:
    stmt = sa.select(sa.func.count().label("n")).where(msgs.c.delivery_state.in_(OPEN))
    return results.rows(stmt)[0]["n"]
