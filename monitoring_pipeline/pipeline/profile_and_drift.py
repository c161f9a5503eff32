"""The hourly computations behind the assets, as plain functions over the warehouse (no Dagster):
profile an hour and compute its drift against its reference (references.py). Each reads its inputs
from the warehouse and publishes one object per hour, so a re-run replaces and runs never share a lock."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline.profiling import profile_parquet, profiles_to_table
from monitoring_pipeline.pipeline.references import (
    HourReference,
    MissingInputError,
    hour_reference,
    load_profiles,
    roles,
)
from monitoring_pipeline.pipeline.segment_profiling import (
    SegmentProfiles,
    profile_with_segments,
    segment_profiles_to_table,
)
from monitoring_pipeline.pipeline.segments import (
    HourSegments,
    SegmentReferences,
    drift_result_fields,
    drift_segments,
    segment_rows,
)
from monitoring_pipeline.stats.drift import (
    DriftColumn,
    DriftSummary,
    FeatureDrift,
    evaluate_hour,
    no_reference,
    summarize,
)
from monitoring_pipeline.stats.profiles import Profile
from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.warehouse import Warehouse


def profile_hour(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> dict[str, Profile]:
    """Profile the hour's `prediction_logs` partition and publish it to `feature_profiles`."""
    with duck.scratch() as conn:
        found = warehouse.fetch_hours(catalog.prediction_logs, model.name, [hour])
        if hour not in found:
            raise MissingInputError(
                f"{model.name}/prediction_logs has no partition for {hour:%Y-%m-%d-%H:00}"
            )
        if model.segments:  # the segments' profiles come out of the same pass
            relation = conn.read_parquet(str(found[hour]), hive_partitioning=False)
            profiles, segments = profile_with_segments(
                conn, relation, model.monitored_columns, model.segments, model.segment_top_k
            )
        else:
            profiles = profile_parquet(conn, found[hour], model.monitored_columns)
    if model.segments:  # first: an hour with feature_profiles has its segment profiles too
        table = segment_profiles_to_table(model.name, hour, segments, roles(model))
        warehouse.put_object(catalog.segment_profiles, model.name, hour, table)
    warehouse.put_object(
        catalog.feature_profiles,
        model.name,
        hour,
        profiles_to_table(model.name, hour, profiles, roles(model)),
    )
    return profiles


@dataclass(frozen=True)
class HourDrift:
    hour: datetime
    reference_window: str
    results: list[FeatureDrift]
    summary: DriftSummary
    segments: HourSegments = field(default_factory=lambda: HourSegments(()))  # model.segments


def drift_hour(
    model: ModelConfig,
    hour: datetime,
    warehouse: Warehouse,
    reference: HourReference | None = None,
    segment_reference: SegmentProfiles | None = None,
) -> HourDrift:
    """Compare the hour's profiles with its reference (`reference`, else looked up: hour_reference), and
    each segment's with the reference's (`segment_reference`, else looked up); publish `drift_metrics`,
    `drift_summary` and the segments' rows together. Without a reference yet (a fixed window still being
    profiled) every column gets status `no_reference`, saying what is missing."""
    current = load_profiles(warehouse, catalog.feature_profiles, model.name, [hour]).get(hour)
    if current is None:
        raise MissingInputError(f"{model.name}/feature_profiles has no partition for {hour:%Y-%m-%d-%H:00}")
    reference = reference or hour_reference(model, hour, warehouse)
    columns = [
        DriftColumn(c.name, c.kind, role, c.drift_test, c.drift_threshold)
        for c, role in [(c, "feature") for c in model.features]
        + [(c, "prediction") for c in model.predictions]
    ]
    alpha = model.thresholds.drift_alpha
    if reference.profiles is None:
        results = no_reference(columns, current, alpha, reference.reason)
    else:
        results = evaluate_hour(columns, reference.profiles, current, alpha)
    if model.segments and reference.profiles is not None and segment_reference is None:
        segment_reference = SegmentReferences(model, warehouse).for_hour(hour)
    by_segment = drift_segments(
        model, hour, warehouse, columns, segment_reference if reference.profiles is not None else None
    )
    drift = HourDrift(hour, reference.description, results, summarize(results), by_segment)
    now = datetime.now(UTC)
    hour_key = {"model": model.name, "partition_hour": hour}
    seg_metrics, seg_summary = segment_rows(model.name, hour, reference.description, by_segment, now)
    with warehouse.results.transaction() as conn:  # the hour's metrics and summaries appear together
        warehouse.results.replace(catalog.drift_metrics, hour_key, drift_rows(model.name, drift, now), conn)
        warehouse.results.upsert(catalog.drift_summary, [summary_row(model.name, drift, now)], conn=conn)
        warehouse.results.replace(catalog.segment_drift_metrics, hour_key, seg_metrics, conn)
        warehouse.results.replace(catalog.segment_drift_summary, hour_key, seg_summary, conn)
    return drift


def drift_rows(model: str, drift: HourDrift, computed_at: datetime) -> list[dict[str, Any]]:
    return [
        {"model": model, "partition_hour": drift.hour}
        | drift_result_fields(r)
        | {"reference_window": drift.reference_window, "computed_at": computed_at}
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
