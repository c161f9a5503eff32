"""Hourly schedules and the late-file sensor: one of each per model, since models can have different
lags, partitions and stores, and a per-model run is what the UI shows per model. Glue only."""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.defs.partitions import KEY_FORMAT
from monitoring_pipeline.defs.resources.object_store import ObjectStoreResource
from monitoring_pipeline.pipeline.arrivals import arrival_hours, folder_objects, window_end
from monitoring_pipeline.storage import layout
from monitoring_pipeline.storage.object_store import ObjectStore

HOURLY_ASSETS = ("prediction_logs", "feature_profiles", "reference_profile", "drift_metrics")


def hourly_asset_names(model: ModelConfig) -> list[str]:
    """The model's hourly assets, in lineage order (a fixed or file reference is materialized on its own)."""
    names = [n for n in HOURLY_ASSETS if n != "reference_profile" or model.reference.type == "trailing"]
    if model.multivariate_on:  # beside drift_metrics: it reads the logs, not the profiles
        names.append("multivariate_drift")
    if model.labels:  # the labels that arrived during the hour, and the hour's performance so far
        names += ["labels", "model_performance"]
    return [*names, "drift_report"]


def hourly_job(model: ModelConfig) -> Any:
    """The model's hourly assets and their checks."""
    names = hourly_asset_names(model)
    selection = dg.AssetSelection.assets(*[dg.AssetKey([model.name, n]) for n in names])
    return dg.define_asset_job(
        f"{model.name}_hourly",
        selection=selection,
        description=f"Every hourly asset and check of `{model.name}` for one or more hours.",
    )


def due_hour(model: ModelConfig, now: datetime, later_folders: int | None = None) -> datetime:
    """The newest hour whose logs are due at `now`: it ended (partitioned by event time: its last arrival
    folder closed) at least `schedule_lag_minutes` ago. `later_folders`: 0 for what is kept by arrival
    hour (labels)."""
    lag = timedelta(minutes=model.schedule_lag_minutes)
    later = model.arrival_folders if later_folders is None else later_folders
    closed = (now.astimezone(UTC) - lag).replace(minute=0, second=0, microsecond=0)
    return closed - timedelta(hours=1 + later)


def hourly_schedule(model: ModelConfig, job: Any) -> dg.ScheduleDefinition:
    lag = model.schedule_lag_minutes

    folders = model.arrival_folders
    closes = f" and its {folders} later arrival folder(s) close" if folders else ""

    @dg.schedule(
        name=f"{model.name}_hourly_schedule",
        job=job,
        cron_schedule=f"{lag % 60} * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Every hour, {lag} minutes after an hour ends{closes}, processes that hour of "
        f"`{model.name}`.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        hour = due_hour(model, context.scheduled_execution_time)
        if hour < model.partitions_start:
            return dg.SkipReason(f"{hour:%Y-%m-%d %H}:00 is before the first partition")
        key = hour.strftime(KEY_FORMAT)
        return dg.RunRequest(
            run_key=f"{model.name}:{key}", partition_key=key, tags={"monitoring/trigger": "schedule"}
        )

    return _schedule


def late_files_sensor(
    model: ModelConfig, job: Any, asset: str = "prediction_logs", location: str | None = None
) -> dg.SensorDefinition:
    """Re-materializes an hour of `asset` when objects land for it later than its last load. For the
    logs, only hours already loaded (the rest is the schedule's); for labels (by arrival hour), also an
    hour never loaded: the hourly run skips its labels when the hour's own logs fail a blocking check."""
    location = location or model.logs
    include_unloaded = asset != "prediction_logs"
    name = f"{model.name}_late_files" if asset == "prediction_logs" else f"{model.name}_late_{asset}"

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Looks at the last {model.late_window_hours} hours of `{model.name}`'s objects under "
            f"`{location}`; an hour {'not loaded yet (once due) or ' if include_unloaded else ''}"
            f"already loaded that got newer objects since is loaded into `{model.name}/{asset}` again "
            "(once per new object)."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, object_store: ObjectStoreResource) -> dg.SensorResult:
        now = datetime.now(UTC)
        store, key_of = object_store.open(location), dg.AssetKey([model.name, asset])
        logs = asset == "prediction_logs"
        due = due_hour(model, now, None if logs else 0)
        newest = _newest_by_folder(store, model, now, asset)
        requests = []
        for k in range(1, model.late_window_hours + 1):
            hour = (now - timedelta(hours=k)).replace(minute=0, second=0, microsecond=0)
            if logs and now < window_end(model, hour):
                continue  # its arrival folders are still filling: the schedule loads it once they close
            # an hour's objects: its own folder's, and for event-time logs those of all its arrival folders
            folders = arrival_hours(model, hour) if logs else [hour]
            landed = max((newest[f] for f in folders if newest.get(f)), default=None)
            key = hour.strftime(KEY_FORMAT)
            loaded = _last_materialization(context.instance, key_of, key)
            late = landed is not None and loaded is not None and landed.timestamp() > loaded
            never = include_unloaded and landed is not None and loaded is None and hour <= due
            if (late or never) and hour >= model.partitions_start:
                requests.append(
                    dg.RunRequest(
                        run_key=f"late:{model.name}:{asset}:{key}:{landed.timestamp():.0f}",
                        partition_key=key,
                        tags={"monitoring/trigger": f"late_{asset}"},
                    )
                )
        return dg.SensorResult(run_requests=requests)

    return _sensor


def _newest_by_folder(
    store: ObjectStore, model: ModelConfig, now: datetime, asset: str
) -> dict[datetime, datetime | None]:
    """The newest object's landing time in each folder the sensor looks at: one listing per folder, each
    folder once however many hours read it."""
    logs = asset == "prediction_logs"
    later, earlier = (model.arrival_folders, model.lead_folders) if logs else (0, 0)
    newest: dict[datetime, datetime | None] = {}
    for k in range(1 - later, model.late_window_hours + 1 + earlier):
        folder = (now - timedelta(hours=k)).replace(minute=0, second=0, microsecond=0)
        if logs:
            found = folder_objects(model, store, folder)
        else:
            keys = layout.hour_prefix(model.name, folder)
            found = [o for o in store.list(keys) if layout.is_data_object(o.key)]
        newest[folder] = max((o.modified for o in found if o.modified), default=None)
    return newest


def _last_materialization(instance: dg.DagsterInstance, asset: dg.AssetKey, partition: str) -> float | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[partition]), limit=1
    ).records
    return records[0].timestamp if records else None
