"""Hourly UTC partitions, one definition per model (models may start monitoring at different hours)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import dagster as dg

from monitoring_pipeline.config import ModelConfig, parse_hour

KEY_FORMAT = "%Y-%m-%d-%H:%M"
T = TypeVar("T")

# `backfill_policy` is beta in Dagster 1.13 and a check's `partitions_def` is in preview; both warn on
# every definition. We rely on them knowingly, on the pinned version (requirements.lock), and
# monitoring_pipeline_tests/defs/test_dagster_api.py fails if a release changes per-partition checks.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
warnings.filterwarnings(
    "ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*"
)


def hourly_partitions(model: ModelConfig) -> dg.HourlyPartitionsDefinition:
    return dg.HourlyPartitionsDefinition(
        start_date=model.partitions_start.strftime(KEY_FORMAT), timezone="UTC", fmt=KEY_FORMAT
    )


def partition_hours(context: dg.AssetExecutionContext) -> list[datetime]:
    """The UTC hours this run covers: one for a single partition, several for a range run."""
    return [parse_hour(key) for key in context.partition_keys]


def backfill_policy(model: ModelConfig) -> dg.BackfillPolicy:
    """A backfill of N hours runs as ceil(N / max_hours_per_run) runs, each processing its hours."""
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=model.max_hours_per_run)


def hourly_asset(
    model: ModelConfig,
    name: str,
    *,
    kinds: set[str],
    description: str,
    deps: Sequence[str] = (),
    check_specs: Sequence[dg.AssetCheckSpec] = (),
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The decorator of one of a model's hourly assets: its key under the model, the model's group and
    owners, hourly partitions and the backfill policy; `deps` are other assets of the same model."""
    return dg.asset(
        key=[model.name, name],
        group_name=model.name,
        owners=list(model.owners),
        partitions_def=hourly_partitions(model),
        backfill_policy=backfill_policy(model),
        deps=[dg.AssetKey([model.name, d]) for d in deps],
        kinds=kinds,
        check_specs=list(check_specs) or None,
        description=description,
    )


def hours_metadata(
    items: Sequence[T],
    hour: Callable[[T], datetime],
    one: Callable[[T], dict[str, Any]],
    figure: tuple[str, Callable[[T], Any]],
    table: Mapping[str, Callable[[T], str]] | None = None,
) -> dict[str, Any]:
    """A materialization's metadata, for one hour or a range. One hour: `one(item)`, its figures as
    numbers (the UI plots them over partitions). A range run records the same metadata on every
    partition it covers, so it gives no per-partition number that would be wrong there: `hours`, the
    `figure` per hour as JSON (`<name>_by_hour`) and, with `table`, one markdown row per hour."""
    if len(items) == 1:
        return {"hours": 1, **one(items[0])}
    name, value = figure
    metadata: dict[str, Any] = {
        "hours": len(items),
        f"{name}_by_hour": dg.MetadataValue.json({f"{hour(i):{KEY_FORMAT}}": value(i) for i in items}),
    }
    if table:
        lines = ["| hour | " + " | ".join(table) + " |", "|---" * (len(table) + 1) + "|"]
        for i in items:
            lines.append(f"| {hour(i):%Y-%m-%d %H}:00 | " + " | ".join(f(i) for f in table.values()) + " |")
        metadata["summary"] = dg.MetadataValue.md("\n".join(lines))
    return metadata
