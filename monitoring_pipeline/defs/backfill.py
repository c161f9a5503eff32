"""Backfill a window of hours in a few runs on the Dagster instance (DAGSTER_HOME), in this process:
ceil(hours / hours_per_run) runs, each processing its hours with the range-aware assets. The runs,
their check evaluations and materializations show in the UI, and the alert sensor sees them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import dagster as dg

from monitoring_pipeline.config import ModelConfig, MonitorsConfig
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.partitions import range_tags
from monitoring_pipeline.defs.schedules import hourly_asset_names


def chunks(first: datetime, last: datetime, hours_per_run: int) -> list[tuple[datetime, datetime]]:
    """[first, last] (inclusive hours) cut into consecutive runs of at most hours_per_run hours."""
    out, start = [], first
    while start <= last:
        end = min(start + timedelta(hours=hours_per_run - 1), last)
        out.append((start, end))
        start = end + timedelta(hours=1)
    return out


def backfill(
    config: MonitorsConfig,
    model: ModelConfig,
    first: datetime,
    last: datetime,
    hours_per_run: int = 24,
    instance: dg.DagsterInstance | None = None,
    log: Callable[[str], None] = print,
) -> list[bool]:
    """Run every asset and check of `model` for the hours first..last; return each run's success."""
    job = build_definitions(config).resolve_implicit_global_asset_job_def()
    instance = instance or dg.DagsterInstance.get()
    hourly = [dg.AssetKey([model.name, name]) for name in hourly_asset_names(model)]
    results = []
    if model.reference.type == "file":  # a static reference comes first (a fixed window needs its hours)
        job.execute_in_process(
            asset_selection=[dg.AssetKey([model.name, "reference_profile"])],
            instance=instance,
            raise_on_error=False,
        )
    for start, end in chunks(first, last, hours_per_run):
        tags = {**range_tags(start, end), "monitoring/backfill": "cli"}
        result = job.execute_in_process(
            asset_selection=hourly, tags=tags, instance=instance, raise_on_error=False
        )
        outcome = "ok" if result.success else "FAILED (see the run in the UI)"
        log(f"{model.name} {start:%Y-%m-%d %H}:00 .. {end:%Y-%m-%d %H}:00: {outcome} (run {result.run_id})")
        results.append(result.success)
    return results
