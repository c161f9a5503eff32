"""Hourly UTC partitions, one definition per model (models may start monitoring at different hours)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from monitoring_pipeline.config import ModelConfig, parse_hour

KEY_FORMAT = "%Y-%m-%d-%H:%M"

# `backfill_policy` is beta in Dagster 1.13 and warns on every definition; we rely on it knowingly.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")


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
