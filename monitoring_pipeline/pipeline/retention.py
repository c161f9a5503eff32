"""Retention (no Dagster here): per-hour objects and result rows older than `warehouse.retention_days`.

A daily job calls `apply_retention`. Its cost follows the work, not the history: result rows go by index
(model, partition_hour), and objects are found by listing only the days that crossed the cutoff since the
last run (the `catch_up_days` before it, so a few missed days are caught up), never the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse

CATCH_UP_DAYS = 7
ID_MARGIN_HOURS = 24  # prediction id fingerprints are kept this long past their labels' window


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime
    rows_deleted: dict[str, int] = field(default_factory=dict)
    objects_deleted: int = 0
    bytes_freed: int = 0


def cutoff_of(config: MonitorsConfig, now: datetime) -> datetime:
    """The first hour kept: the start of the day `retention_days` before `now`."""
    day = (now.astimezone(UTC) - timedelta(days=config.warehouse.retention_days)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def apply_retention(
    config: MonitorsConfig, wh: Warehouse, now: datetime, catch_up_days: int = CATCH_UP_DAYS
) -> RetentionResult:
    cutoff = cutoff_of(config, now)
    rows: dict[str, int] = {}
    for table in catalog.RESULT_TABLES:
        if "partition_hour" not in table.c or "model" not in table.c:
            continue
        for model in config.models:
            first_kept = cutoff
            if table is catalog.prediction_ids and model.labels is not None:
                # the labels' id lookup only looks `max_delay_hours` back (an older hour is rebuilt)
                window = timedelta(hours=model.labels.max_delay_hours + ID_MARGIN_HOURS)
                first_kept = max(cutoff, now.astimezone(UTC) - window)
            old = sa.and_(table.c.model == model.name, table.c.partition_hour < first_kept)
            rows[table.name] = rows.get(table.name, 0) + wh.results.delete(table, old)
    objects = freed = 0
    days = [cutoff - timedelta(days=k) for k in range(1, catch_up_days + 1)]
    for model in config.models:
        for table in catalog.HOURLY_OBJECT_TABLES:
            for day in days:
                for obj in wh.store.list(table.day_prefix(model.name, day)):
                    wh.store.delete(obj.key)
                    objects, freed = objects + 1, freed + obj.size
    return RetentionResult(cutoff, rows, objects, freed)
