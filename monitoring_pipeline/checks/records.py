"""The check rows a run records: `check_history` (every evaluation) and `check_results` (the latest
per check and hour), which the alert sensor and the downstream steps of a run read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from monitoring_pipeline.checks.evaluations import (
    CheckOutcome,
)
from monitoring_pipeline.checks.registry import (
    BLOCKING,
)
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse


def record(
    warehouse: Warehouse, model: str, asset: str, check: str, run_id: str, outcomes: Sequence[CheckOutcome]
) -> int:
    """Persist one evaluation of `check` for every hour in `outcomes`, in one transaction: a row per hour in
    check_history, and check_results' latest row per hour replaced unless a newer evaluation is there."""
    now = datetime.now(UTC)
    rows = [
        {
            "model": model,
            "asset": asset,
            "check_name": o.check,
            "partition_hour": o.hour,
            "passed": o.passed,
            "status": "passed" if o.passed else "failed",
            "severity": o.severity,
            "observed": None if o.observed is None else float(o.observed),
            "threshold": None if o.threshold is None else float(o.threshold),
            "description": o.description,
            "details": json.dumps(o.details, default=str),
            "run_id": run_id,
            "evaluated_at": now,
        }
        for o in outcomes
    ]
    with warehouse.results.transaction() as conn:
        warehouse.results.upsert(catalog.check_history, rows, conn=conn)
        return warehouse.results.upsert(catalog.check_results, rows, conn=conn, newer="evaluated_at")


def run_rows(warehouse: Warehouse, model: str, checks: Sequence[str], run_id: str) -> list[dict[str, Any]]:
    """The per-hour rows the run's evaluations of `checks` recorded (by index on the run)."""
    history = catalog.check_history
    stmt = sa.select(history).where(
        history.c.run_id == run_id, history.c.model == model, history.c.check_name.in_(list(checks))
    )
    return warehouse.results.rows(stmt, sort=["check_name", "partition_hour"])


def failed_blocking_hours(warehouse: Warehouse, model: str, run_id: str) -> set[datetime]:
    """Hours of this run whose blocking checks failed: downstream assets skip exactly these."""
    return {r["partition_hour"] for r in run_rows(warehouse, model, BLOCKING, run_id) if not r["passed"]}
