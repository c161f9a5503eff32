"""The per-model multivariate drift asset. Glue only: the work is in pipeline/multivariate.py."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from monitoring_pipeline import checks
from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.defs.asset_checks import Event, check_specs, record_and_evaluate
from monitoring_pipeline.defs.drift_assets import skipped_metadata, usable_hours
from monitoring_pipeline.defs.partitions import hourly_asset, hours_metadata
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline.pipeline.multivariate import HourMultivariate, RunCache, multivariate_hour


def multivariate_drift_asset(model: ModelConfig) -> dg.AssetsDefinition:
    cfg = model.multivariate

    @hourly_asset(
        model,
        "multivariate_drift",
        deps=["prediction_logs"],
        kinds={"duckdb", "numpy"},
        check_specs=check_specs(model, "multivariate_drift"),
        description=(
            f"Multivariate drift of `{model.name}`'s features in one hour: PCA fitted on the reference "
            f"(components for {cfg.variance:.0%} of its variance), and the hour's mean reconstruction error "
            "over all its rows against the band of the reference hours' own errors (each hour left out of "
            "its own fit), widened for the hour's rows. It catches what the per-feature drift cannot: "
            "features that no longer move together (a join that misaligned two columns) while each one "
            "alone looks unchanged. When it alarms, look at which pairs of features changed their "
            "relation (the report's hours before and after). Also writes the hour's row sample "
            f"({cfg.sample_rows} rows) that later hours' references are fitted on. SQL: "
            "`main.multivariate_drift`."
        ),
    )
    def _multivariate_drift(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | Event]:
        wh = warehouse.get()
        hours, skipped = usable_hours(context, model, wh)
        cache = RunCache()  # samples and a static fit shared by the run's hours
        results = [multivariate_hour(model, hour, wh, cache) for hour in hours]
        metadata = (multivariate_metadata(results) if results else {"hours": 0}) | skipped_metadata(skipped)
        yield dg.MaterializeResult(metadata=metadata)
        outcomes = [o for r in results for o in checks.multivariate_checks(model, r)]
        yield from record_and_evaluate(context, wh, model, "multivariate_drift", outcomes)

    return _multivariate_drift


def multivariate_metadata(results: list[HourMultivariate]) -> dict[str, Any]:
    return hours_metadata(
        results,
        lambda r: r.hour,
        _one,
        ("reconstruction_error", lambda r: r.score.mean if r.score.rows else None),
        {
            "error": lambda r: f"{r.score.mean:.4g}" if r.score.rows else "n/a",
            "band": lambda r: f"[{r.lower:.4g}, {r.upper:.4g}]" if r.upper is not None else "n/a",
            "status": lambda r: r.status,
        },
    )


def _one(r: HourMultivariate) -> dict[str, Any]:
    ref = r.reference
    nan = float("nan")
    return {
        "reconstruction_error": r.score.mean,
        "lower_threshold": r.lower if r.lower is not None else nan,
        "upper_threshold": r.upper if r.upper is not None else nan,
        "expected_error": ref.band.expected if ref.band else nan,
        "rows": r.score.rows,
        "components": len(ref.fit.components) if ref.fit else 0,
        "status": r.status,
        "reference_window": ref.description,
        "reference_rows": ref.rows,
    }
