"""The drift report asset: one self-contained HTML page per model and hour, and a window heat map for
multi-hour runs. Glue only: the rendering is in monitoring_pipeline.publish.reports."""

from typing import Any

import dagster as dg

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.defs.partitions import (
    hourly_asset,
    partition_hours,
)
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline.publish.reports import (
    drift_hours,
    hour_report,
    publish,
    report_key,
    window_key,
    window_report,
)


def report_link(uri: str) -> Any:
    """A clickable link in the UI: file:// for a local warehouse, the object URI otherwise."""
    return dg.MetadataValue.url(uri if "://" in uri else f"file://{uri}")


def drift_report_asset(model: ModelConfig) -> dg.AssetsDefinition:
    deps = ["drift_metrics", "model_performance"] if model.labels else ["drift_metrics"]
    if model.multivariate_on:
        deps.append("multivariate_drift")

    @hourly_asset(
        model,
        "drift_report",
        deps=deps,
        kinds={"html"},
        description=(
            f"A self-contained HTML page per hour for whoever is on call for `{model.name}`: each feature's "
            "reference and current distributions drawn one over the other, the drift test, score, threshold "
            "and verdict, the hour's data-quality results, performance and alerts. Opens offline (inline SVG "
            "and CSS, no script). A multi-hour run also writes a heat map of drift scores over its hours. "
            "Stored beside the results under `reports/`; the link is in each partition's metadata."
        ),
    )
    def _drift_report(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        hours = partition_hours(context)
        done = drift_hours(wh, model.name, hours)  # blocked or empty hours have no drift
        uris = {
            hour: publish(wh, report_key(model.name, hour), hour_report(model, hour, wh)) for hour in done
        }
        metadata: dict[str, Any] = {"reports": len(uris)}
        if uris:
            metadata["report"] = report_link(uris[done[-1]])
        if len(done) > 1:
            page = window_report(model, done[0], done[-1], wh)
            metadata["window_report"] = report_link(
                publish(wh, window_key(model.name, done[0], done[-1]), page)
            )
        skipped = [f"{h:%Y-%m-%d %H}:00" for h in hours if h not in uris]
        if skipped:
            metadata["hours_without_drift"] = dg.MetadataValue.json(skipped)
        return dg.MaterializeResult(metadata=metadata)

    return _drift_report
