"""Per-model profile, reference and drift assets. Glue only: the work is in
monitoring_pipeline.pipeline.profile_and_drift."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dagster as dg
import pydantic

from monitoring_pipeline import checks
from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.defs.asset_checks import Event, check_specs, record_and_evaluate
from monitoring_pipeline.defs.partitions import (
    backfill_policy,
    hourly_asset,
    hourly_partitions,
    hours_metadata,
    partition_hours,
)
from monitoring_pipeline.defs.report_assets import report_link
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline.pipeline.profile_and_drift import HourDrift, drift_hour, profile_hour, profiled_hours
from monitoring_pipeline.pipeline.references import (
    HourReference,
    Reference,
    build_references,
    build_static_reference,
    hour_reference,
    is_static,
    publish_reference,
)
from monitoring_pipeline.pipeline.segments import run_segment_references
from monitoring_pipeline.publish.reports import report_key
from monitoring_pipeline.stats.drift.segments import worst_segments
from monitoring_pipeline.stats.profiles import NumericProfile, Profile
from monitoring_pipeline.storage.catalog import STATIC_HOUR


def feature_profiles_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @hourly_asset(
        model,
        "feature_profiles",
        deps=["prediction_logs"],
        kinds={"duckdb"},
        description=(
            f"Profile of every monitored column of `{model.name}` for one hour, computed in one DuckDB pass: "
            "rows, nulls, mean, std, min, max, quantiles and a mergeable histogram (numerical); counts per "
            "category (top 200 + other) and distinct values (categorical). Any window's profile is the merge "
            "of its hours. SQL: `main.feature_profiles`."
        ),
    )
    def _feature_profiles(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        hours, skipped = usable_hours(context, model, wh)
        profiled = {hour: profile_hour(model, hour, wh) for hour in hours}
        return dg.MaterializeResult(metadata=profile_metadata(profiled) | skipped_metadata(skipped))

    return _feature_profiles


def usable_hours(
    context: dg.AssetExecutionContext, model: ModelConfig, wh: Any
) -> tuple[list[datetime], list[datetime]]:
    """The run's hours, less those whose blocking checks failed in this run (see
    defs/asset_checks.hour_events)."""
    blocked = checks.failed_blocking_hours(wh, model.name, context.run.run_id)
    hours = partition_hours(context)
    return [h for h in hours if h not in blocked], [h for h in hours if h in blocked]


def skipped_metadata(skipped: list[datetime]) -> dict[str, Any]:
    if not skipped:
        return {}
    hours = [f"{h:%Y-%m-%d-%H:00}" for h in skipped]
    return {"skipped_hours": dg.MetadataValue.json(hours), "skipped": len(hours)}


def profile_metadata(profiled: dict[datetime, dict[str, Profile]]) -> dict[str, Any]:
    if not profiled:
        return {"hours": 0}
    return hours_metadata(
        sorted(profiled.items()),
        lambda item: item[0],
        lambda item: _one_profile(item[1]),
        ("rows", lambda item: max((p.rows for p in item[1].values()), default=0)),
    )


def _one_profile(profile: dict[str, Profile]) -> dict[str, Any]:
    rows = max((p.rows for p in profile.values()), default=0)
    lines = ["| column | kind | non-null | nulls | mean | p50 |", "|---|---|---|---|---|---|"]
    for name, p in profile.items():
        mean = f"{p.mean:.4g}" if isinstance(p, NumericProfile) and p.count else ""
        p50 = f"{p.quantiles()[0.5]:.4g}" if isinstance(p, NumericProfile) and p.count else ""
        lines.append(f"| {name} | {p.kind} | {p.count} | {p.nulls} | {mean} | {p50} |")
    return {
        "rows": rows,
        "columns": len(profile),
        "max_null_share": max((p.nulls / p.rows for p in profile.values() if p.rows), default=0.0),
        "profile": dg.MetadataValue.md("\n".join(lines)),
    }


class StaticReferenceConfig(dg.Config):
    allow_partial: bool = pydantic.Field(
        default=False,
        description=(
            "Build a fixed window's reference from the hours profiled so far, when some are still missing "
            "(without it, a partial window fails the run, naming the missing hours)."
        ),
    )


def reference_profile_asset(model: ModelConfig) -> dg.AssetsDefinition:
    common: dict[str, Any] = dict(
        key=[model.name, "reference_profile"],
        group_name=model.name,
        kinds={"duckdb"},
        owners=list(model.owners),
    )
    return (
        _static_reference_asset(model, common)
        if is_static(model)
        else _trailing_reference_asset(model, common)
    )


def _static_reference_asset(model: ModelConfig, common: dict[str, Any]) -> dg.AssetsDefinition:
    ref = model.reference
    upstream = [model.name, "reference_data"] if ref.type == "file" else [model.name, "feature_profiles"]
    what = (
        f"the file `{ref.path}`"
        if ref.type == "file"
        else f"the hours [{ref.start}, {ref.end}), built once every one of them is profiled (by the drift of "
        "the run that profiles the last one, by materializing this asset, or by `monitoring-pipeline "
        "reference`; a partial window only with `allow_partial`)"
    )

    @dg.asset(
        **common,
        deps=[dg.AssetKey(upstream)],
        description=(
            f"Reference distribution that `{model.name}`'s drift is measured against: the merged profile of "
            f"{what}. SQL: `main.reference_profiles`."
        ),
    )
    def _reference_profile(
        context: dg.AssetExecutionContext, config: StaticReferenceConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        built = build_static_reference(model, wh, allow_partial=config.allow_partial)
        publish_reference(model, STATIC_HOUR, built, wh)
        return dg.MaterializeResult(metadata=reference_metadata(built))

    return _reference_profile


def _trailing_reference_asset(model: ModelConfig, common: dict[str, Any]) -> dg.AssetsDefinition:
    what = f"the {model.reference.hours} hours before each hour (trailing window, the hour itself excluded)"

    # Declared hour-to-same-hour on purpose. The true dependency is the N hours before, but declaring
    # it (a TimeWindowPartitionMapping with offsets) makes Dagster run a backfill in waves: each hour's
    # reference waits for the previous hours' profiles, and a 72-hour backfill took 10 runs instead of
    # 3. A backfill's runs execute one at a time in partition order (dagster.yaml: backfill tag limit
    # 1), so each run finds the previous run's profiles; `hours_profiled` in the metadata and the
    # `reference_window` column say how many of the N hours a reference actually merged.
    @dg.asset(
        **common,
        deps=[dg.AssetKey([model.name, "feature_profiles"])],
        partitions_def=hourly_partitions(model),
        backfill_policy=backfill_policy(model),
        description=(
            f"Reference distribution that `{model.name}`'s drift is measured against: the merged profile of "
            f"{what}. SQL: `main.reference_profiles`."
        ),
    )
    def _reference_profile(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        hours = partition_hours(context)
        windows = build_references(model, hours, wh)
        for hour, built in zip(hours, windows, strict=True):
            publish_reference(model, hour, built, wh)
        return dg.MaterializeResult(metadata=reference_metadata(windows[-1]))

    return _reference_profile


def reference_metadata(built: Reference) -> dict[str, Any]:
    return {
        "reference_window": built.description,
        "hours_profiled": built.hours_found,
        "rows": max((p.rows for p in built.profiles.values()), default=0),
    }


def reference_data_spec(model: ModelConfig) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=[model.name, "reference_data"],
        group_name=model.name,
        owners=list(model.owners),
        kinds={"parquet"},
        description=f"Training (reference) data of `{model.name}`, read from `{model.reference.path}`.",
    )


def drift_metrics_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @hourly_asset(
        model,
        "drift_metrics",
        deps=["feature_profiles", "reference_profile"],
        kinds={"duckdb"},
        check_specs=check_specs(model, "drift_metrics"),
        description=(
            f"Drift of each feature and prediction of `{model.name}` in one hour against its reference: the "
            "test used, score, threshold, p-value, drifted flag and sample sizes, plus the share of drifted "
            "features. "
            "A feature drifts when the change is both large enough to matter and statistically significant. "
            "SQL: `main.drift_metrics`, `main.drift_summary`."
        ),
    )
    def _drift_metrics(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | Event]:
        wh = warehouse.get()
        hours, skipped = usable_hours(context, model, wh)
        profiled = profiled_hours(model, hours, wh)  # a backfill may run drift apart from its profiles
        skipped += [h for h in hours if h not in profiled]
        judged = [h for h in hours if h in profiled]
        static = run_reference(context, model, wh, judged)
        segments = run_segment_references(model, wh, static)
        drifts = [drift_hour(model, h, wh, static, segments and segments.for_hour(h)) for h in judged]
        metadata = (drift_metadata(drifts) if drifts else {"hours": 0}) | skipped_metadata(skipped)
        if len(drifts) == 1:  # where the drift_report asset writes this hour's page
            metadata["drift_report"] = report_link(wh.store.uri(report_key(model.name, drifts[0].hour)))
        yield dg.MaterializeResult(metadata=metadata)
        outcomes = [o for drift in drifts for o in checks.drift_checks(model, drift)]
        yield from record_and_evaluate(context, wh, model, "drift_metrics", outcomes)

    return _drift_metrics


def run_reference(
    context: dg.AssetExecutionContext, model: ModelConfig, wh: Any, hours: list[datetime]
) -> HourReference | None:
    """A static reference, looked up once for the run's hours (None: trailing, looked up per hour). When
    this lookup built it (a fixed window whose last hour this run profiled, or a file reference not yet
    materialized), it is recorded as a materialization of `reference_profile`, for the lineage."""
    if not (is_static(model) and hours):
        return None
    found = hour_reference(model, hours[0], wh)
    if found.built is not None:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=[model.name, "reference_profile"],
                description=f"built by drift_metrics (missing or out of date): {found.description}",
                metadata=reference_metadata(found.built),
            )
        )
    elif found.profiles is None:
        context.log.info(found.reason)
    return found


def drift_metadata(drifts: list[HourDrift]) -> dict[str, Any]:
    """One hour: its figures and a markdown summary of what changed; a range: per hour (hours_metadata)."""
    return hours_metadata(
        drifts,
        lambda d: d.hour,
        _one_drift,
        ("drift_share", lambda d: d.summary.drift_share),
        {
            "drift share": lambda d: (
                "n/a" if d.summary.drift_share is None else f"{d.summary.drift_share:.2f}"
            ),
            "drifted features": lambda d: ", ".join(r.feature for r in d.results if r.drifted) or "-",
        },
    )


def _one_drift(drift: HourDrift) -> dict[str, Any]:
    s = drift.summary
    lines = ["| feature | test | score | threshold | p-value |", "|---|---|---|---|---|"]
    for r in s.top:
        p = f"{r.p_value:.2g}" if r.p_value is not None else ""
        lines.append(f"| {r.feature} | {r.test} | {r.score:.4g} | {r.threshold:g} | {p} |")
    drifted = [r.feature for r in drift.results if r.drifted]
    headline = (
        f"**{len(drifted)} column(s) drifted** against {drift.reference_window}: {', '.join(drifted)}"
        if drifted
        else f"No column drifted against {drift.reference_window}."
    )
    extra: dict[str, Any] = {}
    if drift.segments.segments:  # model.segments: how many were judged, which drifted (the worst first)
        found = drift.segments.segments
        worst = worst_segments(found)
        extra["segments_judged"] = sum(x.judged for x in found)
        extra["segments_drifted"] = sum(bool(x.drifted) for x in found)
        named = "; ".join(f"{w.segment}: {', '.join(r.feature for r in w.drifted)}" for w in worst)
        headline += f"\n\nSegments: {extra['segments_judged']} judged, {extra['segments_drifted']} drifted"
        headline += f" (worst: {named})." if worst else "."
    return extra | {
        "drift_share": s.drift_share if s.drift_share is not None else float("nan"),
        "drifted_features": s.drifted,
        "evaluated_features": s.evaluated,
        "prediction_drifted": s.prediction_drifted,
        "prediction_drift_score": s.prediction_score if s.prediction_score is not None else float("nan"),
        "reference_window": drift.reference_window,
        "summary": dg.MetadataValue.md(headline + ("\n\n" + "\n".join(lines) if s.top else "")),
    }
