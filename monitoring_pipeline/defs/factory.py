"""Build the Definitions from the monitors config: one asset group per model."""

from __future__ import annotations

import dagster as dg

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.defs.asset_checks import check_specs, prediction_logs_checks
from monitoring_pipeline.defs.assets import prediction_logs_asset
from monitoring_pipeline.defs.drift_assets import (
    drift_metrics_asset,
    feature_profiles_asset,
    reference_data_spec,
    reference_profile_asset,
)
from monitoring_pipeline.defs.multivariate_assets import multivariate_drift_asset
from monitoring_pipeline.defs.performance_assets import (
    label_updates_sensor,
    labels_asset,
    labels_job,
    performance_asset,
    performance_job,
)
from monitoring_pipeline.defs.report_assets import drift_report_asset
from monitoring_pipeline.defs.resources.object_store import ObjectStoreResource
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline.defs.retention import retention_job, retention_schedule
from monitoring_pipeline.defs.schedules import hourly_job, hourly_schedule, late_files_sensor
from monitoring_pipeline.defs.sensors import (
    alerts_sensor,
    prometheus_sensor,
    run_failure_sensor,
    run_recovery_sensor,
)


def build_definitions(config: MonitorsConfig) -> dg.Definitions:
    assets: list = []
    asset_checks: list = []
    jobs: list = []
    schedules: list = []
    sensors: list = []
    check_keys: list = []
    job_models: dict[str, str] = {}  # our jobs -> their model ("": none), whom a failed run alerts for
    for model in config.models:
        job = hourly_job(model)
        jobs.append(job)
        job_models[job.name] = model.name
        schedules.append(hourly_schedule(model, job))
        sensors.append(late_files_sensor(model, job))
        asset_checks += prediction_logs_checks(model)
        assets += [
            prediction_logs_asset(model),
            feature_profiles_asset(model),
            reference_profile_asset(model),
            drift_metrics_asset(model),
        ]
        if model.reference.type == "file":
            assets.append(reference_data_spec(model))
        if model.multivariate_on:
            assets.append(multivariate_drift_asset(model))
        assets.append(drift_report_asset(model))
        if model.labels:
            performance = performance_asset(model)
            assets += [labels_asset(model), performance]
            perf_job, late_labels_job = performance_job(model), labels_job(model)
            jobs += [perf_job, late_labels_job]
            job_models |= {perf_job.name: model.name, late_labels_job.name: model.name}
            sensors.append(label_updates_sensor(model, perf_job))
            sensors.append(late_files_sensor(model, late_labels_job, "labels", model.labels.location))
            check_keys += list(performance.check_keys)
    retention = retention_job(config)
    jobs.append(retention)
    job_models[retention.name] = ""  # ours, of no model
    schedules.append(retention_schedule(retention))
    check_keys += [key for c in asset_checks for key in c.check_keys]
    check_keys += [spec.key for model in config.models for spec in check_specs(model, "drift_metrics")]
    check_keys += [spec.key for model in config.models for spec in check_specs(model, "multivariate_drift")]
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks,
        jobs=jobs,
        schedules=schedules,
        sensors=[
            alerts_sensor(config, check_keys),
            run_failure_sensor(config, job_models),
            run_recovery_sensor(config, job_models),
            *sensors,
        ]
        + ([prometheus_sensor(config)] if config.prometheus_textfile else []),
        resources={
            "warehouse": WarehouseResource.from_config(config.warehouse),
            "object_store": ObjectStoreResource(),
        },
        # A run's steps form a chain (logs -> checks -> profiles -> reference -> drift) and this is a
        # 2-core machine: one process per step (the multiprocess default) re-imports Dagster, pandas and
        # DuckDB for every step, ~2-3 s each. In process, a 24-hour run pays the imports once
        # (benchmarks/backfill_bench.py). Parallelism comes from runs, not steps.
        executor=dg.in_process_executor,
    )
