"""Segment references and segment drift over the warehouse (no Dagster): the per-segment twin of
references.py and drift_hour.

A trailing reference is merged per segment from the window's `segment_profiles`, for every hour of a run
at once (each profile read once). A static one (fixed window or file) is built once and stored under
STATIC_HOUR in `segment_reference_profiles`, with what it was built for in its Parquet metadata; it is
rebuilt when that changes (another window, file or segment config; the file replaced; more hours of the
window profiled). Segment drift has a reference only when the whole population has one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow.parquet as pq

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline.references import (
    BUILT_FOR,
    HourReference,
    reference_hours,
    reference_spec,
    roles,
)
from monitoring_pipeline.pipeline.segment_profiling import (
    SegmentProfiles,
    merge_segment_profiles,
    profile_with_segments,
    segment_column,
    segment_profiles_from_table,
    segment_profiles_to_table,
)
from monitoring_pipeline.stats.drift import DriftColumn, FeatureDrift
from monitoring_pipeline.stats.drift.segments import SegmentDrift, segment_drift
from monitoring_pipeline.stats.profiles import OTHER, merge_profiles
from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.catalog import STATIC_HOUR
from monitoring_pipeline.storage.object_store import fetch_file
from monitoring_pipeline.storage.warehouse import Warehouse


def load_segment_profiles(
    warehouse: Warehouse, table: catalog.ObjectTable, model: str, hours: Sequence[datetime]
) -> dict[datetime, SegmentProfiles]:
    paths = warehouse.fetch_hours(table, model, hours)
    return {h: segment_profiles_from_table(pq.read_table(p)) for h, p in paths.items()}


def complete(segment: str, hours: Sequence[SegmentProfiles]) -> bool:
    """Whether every hour holds all of the segment's rows: it was kept there, or its column pooled nothing
    that hour (then its absence means no rows). A value kept in some hours and pooled in others has no
    complete reference: merging only the hours it was kept would bias it (towards its busy hours)."""
    pooled = f"{segment_column(segment)}={OTHER}"
    return all(segment in hour or pooled not in hour for hour in hours)


def merged(hours: Sequence[SegmentProfiles]) -> SegmentProfiles:
    """The segments of several hours merged; a kept value whose reference is not complete is left out."""
    out: SegmentProfiles = {}
    for segment, by_column in merge_segment_profiles(hours).items():
        if segment.endswith(f"={OTHER}") or complete(segment, hours):
            out[segment] = {c: p for c, ps in by_column.items() if (p := merge_profiles(ps)) is not None}
    return out


class SegmentReferences:
    """A run's segment references, one hour at a time: a trailing window's hours are read once each and
    dropped once no later hour of the run needs them (memory: one window, whatever the run's length)."""

    def __init__(self, model: ModelConfig, warehouse: Warehouse) -> None:
        self.model, self.warehouse = model, warehouse
        self.loaded: dict[datetime, SegmentProfiles] = {}
        self.static: SegmentProfiles | None = None

    def for_hour(self, hour: datetime) -> SegmentProfiles:
        if self.model.reference.type != "trailing":
            if self.static is None:
                self.static = static_segment_reference(self.model, self.warehouse)
            return self.static
        window = reference_hours(self.model, hour)
        self.loaded = {h: p for h, p in self.loaded.items() if h >= window[0]}
        missing = [h for h in window if h not in self.loaded]
        found = load_segment_profiles(self.warehouse, catalog.segment_profiles, self.model.name, missing)
        self.loaded |= found | {h: {} for h in missing if h not in found}  # {}: not profiled with segments
        return merged([self.loaded[h] for h in window if self.loaded[h]])


def run_segment_references(
    model: ModelConfig, warehouse: Warehouse, static: HourReference | None
) -> SegmentReferences | None:
    """A run's segment references (None without segments, or when a static reference is not there yet:
    a fixed window still being profiled)."""
    if not model.segments or (static is not None and static.profiles is None):
        return None
    return SegmentReferences(model, warehouse)


def _spec(model: ModelConfig) -> str:
    return json.dumps(
        {"reference": reference_spec(model), "segments": list(model.segments), "top_k": model.segment_top_k}
    )


def static_segment_reference(model: ModelConfig, warehouse: Warehouse) -> SegmentProfiles:
    """The stored static segment reference if still what the config asks for, else built and stored."""
    spec = _spec(model)
    window = reference_hours(model, STATIC_HOUR) if model.reference.type == "fixed" else []
    present = sorted(warehouse.hours_present(catalog.segment_profiles, model.name, window)) if window else []
    paths = warehouse.fetch_hours(catalog.segment_reference_profiles, model.name, [STATIC_HOUR])
    if STATIC_HOUR in paths:
        table = pq.read_table(paths[STATIC_HOUR])
        kept = json.loads((table.schema.metadata or {}).get(BUILT_FOR, b"{}"))
        if kept == {"spec": spec, "profiled": len(present)}:
            return segment_profiles_from_table(table)
    if model.reference.type == "fixed":
        loaded = load_segment_profiles(warehouse, catalog.segment_profiles, model.name, present)
        built = merged(list(loaded.values()))
    else:
        assert model.reference.path is not None
        with duck.scratch() as conn:
            relation = conn.read_parquet(str(fetch_file(model.reference.path)), hive_partitioning=False)
            _, built = profile_with_segments(
                conn, relation, model.monitored_columns, model.segments, model.segment_top_k
            )
    table = segment_profiles_to_table(model.name, STATIC_HOUR, built, roles(model))
    meta = json.dumps({"spec": spec, "profiled": len(present)}).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), BUILT_FOR: meta})
    warehouse.put_object(catalog.segment_reference_profiles, model.name, STATIC_HOUR, table)
    return built


@dataclass(frozen=True)
class HourSegments:
    segments: tuple[SegmentDrift, ...]
    note: str = ""  # why there are none (no reference, profiled before segments were configured)


def drift_segments(
    model: ModelConfig,
    hour: datetime,
    warehouse: Warehouse,
    columns: Sequence[DriftColumn],
    reference: SegmentProfiles | None,
) -> HourSegments:
    """The hour's segments judged against `reference` (None: the whole population has no reference)."""
    if not model.segments:
        return HourSegments(())
    current = load_segment_profiles(warehouse, catalog.segment_profiles, model.name, [hour]).get(hour)
    if current is None:
        return HourSegments(
            (), "no segment profiles: the hour was profiled before `segments` was set; re-run it"
        )
    if reference is None:
        return HourSegments((), "no reference yet")
    found = segment_drift(
        columns, reference, current, model.thresholds.drift_alpha, model.thresholds.min_segment_rows
    )
    return HourSegments(tuple(found))


def segment_rows(
    model: str, hour: datetime, window: str, found: HourSegments, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The hour's `segment_drift_metrics` and `segment_drift_summary` rows."""
    metrics, summary = [], []
    for s in found.segments:
        base = {"model": model, "partition_hour": hour, "segment": s.segment, "segment_column": s.column}
        base |= {"segment_value": s.value, "reference_window": window, "computed_at": now}
        for r in s.results:
            metrics.append(base | drift_result_fields(r) | _p_and_q(r) | {"judged": True})
        summary.append(
            base
            | {
                "rows": s.rows,
                "reference_rows": s.reference_rows,
                "judged": s.judged,
                "features": len([r for r in s.results if r.role == "feature"]),
                "evaluated": len(s.evaluated),
                "drifted": len(s.drifted),
                "drift_share": s.drift_share,
                "min_q_value": s.min_q_value,
                "drifted_features": json.dumps([r.feature for r in s.drifted]),
                "note": s.reason or None,
            }
        )
    return metrics, summary


def drift_result_fields(result: FeatureDrift) -> dict[str, Any]:
    """A column's drift as the columns of a drift_metrics (or segment_drift_metrics) row."""
    r = result
    return {
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
        "details": json.dumps(r.details, default=str),
    }


def _p_and_q(result: FeatureDrift) -> dict[str, float | None]:
    """A battery's column p-value (its findings' smallest, Bonferroni-adjusted) and its BH q-value over
    the hour's segments x columns; a p-value test's own p-value (judged on its threshold: no q-value)."""
    findings = result.details.get("findings")
    if not findings:
        return {"p_value": result.p_value, "q_value": None}
    return {"p_value": min(f["adjusted_p_value"] for f in findings), "q_value": result.p_value}
