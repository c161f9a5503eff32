"""The hourly computations behind the assets, as plain functions over the warehouse (no Dagster):
profile an hour, build its reference, compute its drift. Each reads its inputs from the warehouse
and publishes one object per hour, so a re-run replaces and runs never share a lock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline.profiling import profile_parquet, profiles_from_table, profiles_to_table
from monitoring_pipeline.stats.drift import DriftColumn, DriftSummary, FeatureDrift, evaluate_hour, summarize
from monitoring_pipeline.stats.profiles import Profile, merge_profiles
from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.catalog import STATIC_HOUR, ObjectTable
from monitoring_pipeline.storage.object_store import fetch_file
from monitoring_pipeline.storage.warehouse import Warehouse


class MissingInputError(RuntimeError):
    """An upstream partition this computation needs has not been materialized."""


def roles(model: ModelConfig) -> dict[str, str]:
    return {c.name: "feature" for c in model.features} | {c.name: "prediction" for c in model.predictions}


def profile_hour(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> dict[str, Profile]:
    """Profile the hour's `prediction_logs` partition and publish it to `feature_profiles`."""
    with duck.scratch() as conn:
        found = warehouse.fetch_hours(catalog.prediction_logs, model.name, [hour])
        if hour not in found:
            raise MissingInputError(
                f"{model.name}/prediction_logs has no partition for {hour:%Y-%m-%d-%H:00}"
            )
        profiles = profile_parquet(conn, found[hour], model.monitored_columns)
    warehouse.put_object(
        catalog.feature_profiles,
        model.name,
        hour,
        profiles_to_table(model.name, hour, profiles, roles(model)),
    )
    return profiles


def load_profiles(
    warehouse: Warehouse, table: ObjectTable, model: str, hours: list[datetime]
) -> dict[datetime, dict[str, Profile]]:
    paths = warehouse.fetch_hours(table, model, hours)
    return {h: profiles_from_table(pq.read_table(p)) for h, p in paths.items()}


@dataclass(frozen=True)
class Reference:
    description: str
    start: datetime | None
    end: datetime | None
    hours_found: int
    hours_expected: int
    profiles: dict[str, Profile]


def reference_hours(model: ModelConfig, hour: datetime) -> list[datetime]:
    ref = model.reference
    if ref.type == "trailing":
        return [hour - timedelta(hours=k) for k in range(ref.hours, 0, -1)]
    assert ref.start is not None and ref.end is not None
    return [ref.start + timedelta(hours=k) for k in range(int((ref.end - ref.start).total_seconds() // 3600))]


def is_static(model: ModelConfig) -> bool:
    """Fixed windows and files give one reference for every hour; trailing windows one per hour."""
    return model.reference.type != "trailing"


def build_static_reference(model: ModelConfig, warehouse: Warehouse) -> Reference:
    if model.reference.type == "fixed":
        return build_reference(model, STATIC_HOUR, warehouse)
    path = model.reference.path
    assert path is not None
    with duck.scratch() as conn:
        local = fetch_file(path)
        names = set(conn.read_parquet(str(local), hive_partitioning=False).columns)
        missing = [c.name for c in model.monitored_columns if c.name not in names]
        if missing:
            raise ValueError(
                f"reference file {path}: missing column(s) {missing} declared for model {model.name!r}"
            )
        profiles = profile_parquet(conn, local, model.monitored_columns)
    rows = max((p.rows for p in profiles.values()), default=0)
    return Reference(f"file {path} ({rows} rows)", None, None, 0, 0, profiles)


def build_reference(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> Reference:
    """Merge the window's hourly profiles (trailing: the N hours before `hour`; fixed: the range)."""
    return build_references(model, [hour], warehouse)[0]


def build_references(model: ModelConfig, hours: list[datetime], warehouse: Warehouse) -> list[Reference]:
    """`build_reference` of each hour, reading each profile of their windows once: a run's trailing
    windows overlap (a 24-hour run over 24-hour windows reads 47 profiles, not 576)."""
    windows = [reference_hours(model, hour) for hour in hours]
    needed = sorted({h for window in windows for h in window})
    loaded = load_profiles(warehouse, catalog.feature_profiles, model.name, needed)
    return [_merged(model, window, {h: loaded[h] for h in window if h in loaded}) for window in windows]


def _merged(
    model: ModelConfig, hours: list[datetime], by_hour: dict[datetime, dict[str, Profile]]
) -> Reference:
    merged = {}
    for column in model.monitored_columns:
        merged_profile = merge_profiles(p[column.name] for p in by_hour.values() if column.name in p)
        if merged_profile is not None:
            merged[column.name] = merged_profile
    start, end = hours[0], hours[-1] + timedelta(hours=1)
    kind = f"trailing {model.reference.hours}h" if model.reference.type == "trailing" else "fixed"
    window = f"[{start:%Y-%m-%d %H:00}, {end:%Y-%m-%d %H:00}) UTC"
    description = f"{kind} {window}, {len(by_hour)}/{len(hours)} hours profiled"
    return Reference(description, start, end, len(by_hour), len(hours), merged)


def publish_reference(model: ModelConfig, hour: datetime, reference: Reference, warehouse: Warehouse) -> str:
    table = profiles_to_table(model.name, hour, reference.profiles, roles(model))
    table = table.append_column(
        "reference_window", pa.array([reference.description] * len(table), pa.string())
    )
    return warehouse.put_object(catalog.reference_profiles, model.name, hour, table)


def load_reference(
    model: ModelConfig, hour: datetime, warehouse: Warehouse
) -> tuple[str, dict[str, Profile]]:
    """The stored reference for `hour`: its own partition (trailing), or the one static reference."""
    stored = STATIC_HOUR if is_static(model) else hour
    paths = warehouse.fetch_hours(catalog.reference_profiles, model.name, [stored])
    if stored not in paths:
        which = "its (static) reference" if is_static(model) else f"{hour:%Y-%m-%d-%H:00}"
        raise MissingInputError(f"{model.name}/reference_profile has not been materialized for {which}")
    table = pq.read_table(paths[stored])
    description = table.column("reference_window")[0].as_py() if len(table) else "empty reference"
    return description, profiles_from_table(table)


@dataclass(frozen=True)
class HourDrift:
    hour: datetime
    reference_window: str
    results: list[FeatureDrift]
    summary: DriftSummary


def drift_hour(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> HourDrift:
    """Compare the hour's profiles with its reference; publish `drift_metrics` and `drift_summary`."""
    current = load_profiles(warehouse, catalog.feature_profiles, model.name, [hour]).get(hour)
    if current is None:
        raise MissingInputError(f"{model.name}/feature_profiles has no partition for {hour:%Y-%m-%d-%H:00}")
    try:
        window, reference = load_reference(model, hour, warehouse)
    except MissingInputError:
        if is_static(model):
            raise
        # A backfill may schedule this hour's reference in a later run (Dagster orders the trailing
        # window's hours, not this hour's): build it now from the profiles, exactly as that run would.
        built = build_reference(model, hour, warehouse)
        publish_reference(model, hour, built, warehouse)
        window, reference = built.description, built.profiles
    alpha = model.thresholds.drift_alpha
    columns = [
        DriftColumn(c.name, c.kind, role, c.drift_test, c.drift_threshold)
        for c, role in [(c, "feature") for c in model.features]
        + [(c, "prediction") for c in model.predictions]
    ]
    results = evaluate_hour(columns, reference, current, alpha)
    drift = HourDrift(hour, window, results, summarize(results))
    now = datetime.now(UTC)
    hour_key = {"model": model.name, "partition_hour": hour}
    with warehouse.results.transaction() as conn:  # the hour's metrics and summary appear together
        warehouse.results.replace(catalog.drift_metrics, hour_key, drift_rows(model.name, drift, now), conn)
        warehouse.results.upsert(catalog.drift_summary, [summary_row(model.name, drift, now)], conn=conn)
    return drift


def drift_rows(model: str, drift: HourDrift, computed_at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "model": model,
            "partition_hour": drift.hour,
            "feature": r.feature,
            "role": r.role,
            "kind": r.kind,
            "test": r.test,
            "score_kind": r.score_kind,
            "score": r.score,
            "threshold": r.threshold,
            "p_value": r.p_value,
            "alpha": r.alpha,
            "drifted": r.drifted,
            "status": r.status,
            "reference_rows": r.reference_count,
            "current_rows": r.current_count,
            "reference_window": drift.reference_window,
            "details": json.dumps(r.details, default=str),
            "computed_at": computed_at,
        }
        for r in drift.results
    ]


def summary_row(model: str, drift: HourDrift, computed_at: datetime) -> dict[str, Any]:
    s = drift.summary
    drifted = [r.feature for r in drift.results if r.role == "feature" and r.drifted]
    return {
        "model": model,
        "partition_hour": drift.hour,
        "features": s.features,
        "evaluated": s.evaluated,
        "drifted": s.drifted,
        "drift_share": s.drift_share,
        "prediction_drifted": s.prediction_drifted,
        "prediction_score": s.prediction_score,
        "drifted_features": json.dumps(drifted),
        "reference_window": drift.reference_window,
        "computed_at": computed_at,
    }


def profiled_hours(model: ModelConfig, hours: list[datetime], warehouse: Warehouse) -> set[datetime]:
    """The hours among `hours` that have a published profile."""
    return warehouse.hours_present(catalog.feature_profiles, model.name, hours)
