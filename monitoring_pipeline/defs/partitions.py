"""Hourly UTC partitions, one definition per model (models may start monitoring at different hours)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import dagster as dg

from monitoring_pipeline.config import ModelConfig, parse_hour

KEY_FORMAT = "%Y-%m-%d-%H:%M"
# The tags that say which hours a run covers: one partition, or a range (what backfills and our sensors set)
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
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


def range_tags(first: datetime, last: datetime) -> dict[str, str]:
    """The tags of a run over the hours first..last (inclusive)."""
    return {RANGE_START_TAG: f"{first:{KEY_FORMAT}}", RANGE_END_TAG: f"{last:{KEY_FORMAT}}"}


def tagged_hours(tags: Mapping[str, str]) -> tuple[datetime, ...]:
    """The hours a run covered, from its tags: one partition or a range; () if it has neither."""
    if PARTITION_TAG in tags:
        return (parse_hour(tags[PARTITION_TAG]),)
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not (start and end):
        return ()
    first, last = parse_hour(start), parse_hour(end)
    return tuple(first + timedelta(hours=i) for i in range(int((last - first) / timedelta(hours=1)) + 1))


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
