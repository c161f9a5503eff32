"""Per-model assets. Glue only: the work is in monitoring_pipeline.pipeline.ingest."""

from typing import Any

import dagster as dg

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.defs.partitions import hourly_asset, hours_metadata, partition_hours
from monitoring_pipeline.defs.resources.object_store import ObjectStoreResource
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline.pipeline.ingest import IngestResult, ingest_hour
from monitoring_pipeline.storage.catalog import prediction_logs


def prediction_logs_asset(model: ModelConfig) -> dg.AssetsDefinition:
    @hourly_asset(
        model,
        prediction_logs.name,
        kinds={"duckdb", "s3" if model.logs.startswith("s3://") else "parquet", "great_expectations"},
        description=(
            f"Prediction logs of model `{model.name}` for one UTC hour"
            + (
                f" (the records whose timestamp is in it, from its arrival folder and the next "
                f"{model.arrival_folders})"
                if model.event_time
                else ""
            )
            + f", copied from `{model.logs}` (`{model.logs_layout}` layout) into the "
            f"warehouse (view `{model.name}.{prediction_logs.name}`). Re-materializing an hour replaces it. "
            "An hour with no objects materializes as an empty partition; an unreadable object or a column "
            "of the wrong type fails the run naming the object and column, and leaves the previous data "
            "in place."
        ),
    )
    def _prediction_logs(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, object_store: ObjectStoreResource
    ) -> dg.MaterializeResult:
        logs, wh = object_store.open(model.logs), warehouse.get()
        results = []
        for hour in partition_hours(context):
            result = ingest_hour(model, hour, logs, wh)
            context.log.info(
                f"{model.name} {hour:%Y-%m-%d %H}:00: {result.rows} rows from "
                f"{len(result.files)} object(s) -> {result.partition_uri}"
            )
            if result.late_records or result.early_records:
                context.log.warning(
                    f"{model.name} {hour:%Y-%m-%d %H}:00: {result.late_records} late and "
                    f"{result.early_records} early record(s) in this hour's arrival folder belong to no "
                    "hour read (see check records_arrived_within_delay)"
                )
            results.append(result)
        return dg.MaterializeResult(metadata=ingest_metadata(results))

    return _prediction_logs


def ingest_metadata(results: list[IngestResult]) -> dict[str, Any]:
    """Key figures as numbers (so the UI plots them over partitions) plus a one-line summary; the
    per-hour row count and partition only for one hour (see hours_metadata)."""
    rows = sum(r.rows for r in results)
    empty = [f"{r.hour:%Y-%m-%d %H}:00" for r in results if r.empty]
    summary = f"{rows} rows loaded from {sum(r.objects for r in results)} object(s)"
    if empty:
        summary += f"; {len(empty)} of {len(results)} hour(s) empty (no objects, or only empty ones): "
        summary += ", ".join(empty)
    counted: dict[str, Any] = {}
    if results[0].late_records is not None:  # partitioned by event time (pipeline.arrivals)
        late, early = (sum(getattr(r, f) or 0 for r in results) for f in ("late_records", "early_records"))
        counted = {"late_records": late, "early_records": early}
        if late or early:
            summary += f"; {late} late and {early} early record(s) in the arrival folders, in no hour"
    bad = sum(r.bad_lines for r in results)
    if bad:
        counted["bad_lines"] = bad
        summary += f"; {bad} malformed line(s) skipped"
    return (
        counted
        | {
            "rows": rows,
            "empty_hours": len(empty),
            "files": sum(r.objects for r in results),  # each object once (event time: by its folder's hour)
            "bytes": sum(r.bytes for r in results),
            "columns": dg.MetadataValue.json(list(results[0].columns)),
            "source_objects": dg.MetadataValue.json([f for r in results for f in r.files][:50]),
            "summary": dg.MetadataValue.md(summary),
        }
        | hours_metadata(
            results,
            lambda r: r.hour,
            lambda r: {"dagster/row_count": r.rows, "partition_uri": r.partition_uri},
            ("rows", lambda r: r.rows),
        )
    )
