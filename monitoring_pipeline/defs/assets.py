"""Per-model assets. Glue only: the work is in monitoring_pipeline.ingest."""

from typing import Any

import dagster as dg

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.defs.partitions import hourly_asset, partition_hours
from monitoring_pipeline.ingest import IngestResult, ingest_hour
from monitoring_pipeline.resources.warehouse import WarehouseResource
from monitoring_pipeline.storage.catalog import prediction_logs
from monitoring_pipeline.storage.object_store import open_store


def prediction_logs_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @hourly_asset(
        model,
        prediction_logs.name,
        kinds={"duckdb", "s3" if model.logs.startswith("s3://") else "parquet", "great_expectations"},
        description=(
            f"Prediction logs of model `{model.name}` for one UTC hour, copied from `{model.logs}` into the "
            f"warehouse (view `{model.name}.{prediction_logs.name}`). Re-materializing an hour replaces it. "
            "An hour with no objects materializes as an empty partition; an unreadable object or a column "
            "of the wrong type fails the run naming the object and column, and leaves the previous data "
            "in place."
        ),
    )
    def _prediction_logs(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        logs, wh = open_store(model.logs), warehouse.get()
        results = []
        for hour in partition_hours(context):
            result = ingest_hour(model, hour, logs, wh)
            context.log.info(
                f"{model.name} {hour:%Y-%m-%d %H}:00: {result.rows} rows from "
                f"{len(result.files)} object(s) -> {result.partition_uri}"
            )
            results.append(result)
        return dg.MaterializeResult(metadata=ingest_metadata(results))

    return _prediction_logs


def ingest_metadata(results: list[IngestResult]) -> dict[str, Any]:
    """Key figures as numbers (so the UI plots them over partitions) plus a one-line summary.

    A range run records the same metadata on each of its partitions, so per-hour figures are
    listed in `rows_by_hour` and the plotted row count is only set for single-hour runs.
    """
    rows = sum(r.rows for r in results)
    empty = [f"{r.hour:%Y-%m-%d %H}:00" for r in results if r.empty]
    summary = f"{rows} rows loaded from {sum(len(r.files) for r in results)} object(s)"
    if empty:
        summary += f"; {len(empty)} of {len(results)} hour(s) empty (no objects, or only empty ones): "
        summary += ", ".join(empty)
    metadata: dict[str, Any] = {
        "rows": rows,
        "hours": len(results),
        "empty_hours": len(empty),
        "files": sum(len(r.files) for r in results),
        "bytes": sum(r.bytes for r in results),
        "columns": dg.MetadataValue.json(list(results[0].columns)),
        "source_objects": dg.MetadataValue.json([f for r in results for f in r.files][:50]),
        "summary": dg.MetadataValue.md(summary),
    }
    if len(results) == 1:
        metadata["dagster/row_count"] = rows
        metadata["partition_uri"] = results[0].partition_uri
    else:
        metadata["rows_by_hour"] = dg.MetadataValue.json(
            {f"{r.hour:%Y-%m-%d-%H:00}": r.rows for r in results}
        )
    return metadata
