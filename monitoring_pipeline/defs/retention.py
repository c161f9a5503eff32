"""The daily retention job and its schedule. Glue only: the work is in
monitoring_pipeline.pipeline.retention."""

from datetime import UTC, datetime

import dagster as dg

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline.pipeline.retention import apply_retention


def retention_job(config: MonitorsConfig) -> dg.JobDefinition:
    days = config.warehouse.retention_days

    @dg.op(
        name="apply_retention",
        description=f"Deletes per-hour objects and result rows older than {days} days "
        "(`warehouse.retention_days`).",
    )
    def _apply(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> dg.Output[int]:
        result = apply_retention(config, warehouse.get(), datetime.now(UTC))
        rows = sum(result.rows_deleted.values())
        context.log.info(
            f"retention: {rows} rows and {result.objects_deleted} objects older than {result.cutoff}"
        )
        metadata = {
            "cutoff": result.cutoff.isoformat(),
            "rows_deleted": rows,
            "rows_deleted_per_table": dg.MetadataValue.json(result.rows_deleted),
            "objects_deleted": result.objects_deleted,
            "bytes_freed": result.bytes_freed,
        }
        return dg.Output(rows, metadata=metadata)

    @dg.job(name="retention", description=f"Daily: drop what is older than {days} days.")
    def _job() -> None:
        _apply()

    return _job


def retention_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="retention_daily",
        job=job,
        cron_schedule="17 3 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every day at 03:17 UTC, deletes what is older than the retention period.",
    )
