"""Labels, model performance and the sensor that recomputes an hour when its labels land. Glue only:
the work is in monitoring_pipeline.pipeline.performance and monitoring_pipeline.checks."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from monitoring_pipeline import checks
from monitoring_pipeline.config import ModelConfig, parse_hour
from monitoring_pipeline.defs.asset_checks import Event, check_specs, record_and_evaluate
from monitoring_pipeline.defs.drift_assets import skipped_metadata, usable_hours
from monitoring_pipeline.defs.partitions import (
    KEY_FORMAT,
    hourly_asset,
    hours_metadata,
    partition_hours,
    range_tags,
)
from monitoring_pipeline.defs.resources.object_store import ObjectStoreResource
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline.pipeline.performance import (
    HourPerformance,
    LabelsResult,
    ingest_labels,
    labels_of,
    performance_hour,
)


def labels_asset(model: ModelConfig) -> dg.AssetsDefinition:
    cfg = labels_of(model)

    @hourly_asset(
        model,
        "labels",
        deps=["prediction_logs"],
        kinds={"duckdb", "s3" if cfg.location.startswith("s3://") else "parquet"},
        description=(
            f"Ground truth of `{model.name}` that *arrived* during the hour (partitioned by arrival, as the "
            f"objects land under `{cfg.location}`), each label tagged with the prediction hour it belongs to "
            f"(joined by `{cfg.id_column}` over the {cfg.max_delay_hours} hours before). Labels whose id "
            "matches no prediction are counted as unknown and never joined. SQL: `main.labels`."
        ),
    )
    def _labels(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, object_store: ObjectStoreResource
    ) -> dg.MaterializeResult:
        wh, store = warehouse.get(), object_store.open(cfg.location)
        results = [ingest_labels(model, hour, store, wh) for hour in partition_hours(context)]
        return dg.MaterializeResult(metadata=labels_metadata(results))

    return _labels


def labels_metadata(results: list[LabelsResult]) -> dict[str, Any]:
    rows = sum(r.rows for r in results)
    unknown = sum(r.unknown_ids for r in results)
    hours = sorted({h for r in results for h in r.prediction_hours})
    files = sum(len(r.files) for r in results)
    summary = f"{rows} labels from {files} object(s) for {len(hours)} prediction hour(s)"
    if unknown:
        summary += f"; {unknown} with an unknown prediction id (not joined)"
    return {
        "rows": rows,
        "matched": sum(r.matched for r in results),
        "unknown_ids": unknown,
        "prediction_hours": dg.MetadataValue.json([f"{h:{KEY_FORMAT}}" for h in hours]),
        "summary": dg.MetadataValue.md(summary),
    }


def _figures_text(model: ModelConfig) -> str:
    """What the performance asset computes, for its description."""
    if model.multiclass:
        classes = ", ".join(labels_of(model).classes or ())
        return (
            f"accuracy, per-class precision, recall and F1 (classes {classes}), "
            "their macro and weighted averages (judged: macro F1), the confusion matrix, log loss, and the "
            "one-vs-rest CBPE estimate of accuracy and macro F1 from the per-class scores alone. A class "
            "whose recall fell shows in the `per_class` figures and the report's per-class table."
        )
    if model.task == "classification":
        return (
            "accuracy, precision, recall, F1, ROC AUC, log loss, Brier score, calibration error, and the "
            "CBPE estimate of accuracy and ROC AUC from the scores alone (shown beside the realized "
            "figures, so the estimate can be judged)."
        )
    return "MAE, RMSE, MAPE (zero targets left out) and R²."


def performance_asset(model: ModelConfig) -> dg.AssetsDefinition:
    cfg = labels_of(model)

    @hourly_asset(
        model,
        "model_performance",
        deps=["prediction_logs", "labels"],
        kinds={"duckdb"},
        check_specs=check_specs(model, "model_performance"),
        description=(
            f"Realized performance of `{model.name}` for the predictions made during the hour, from the "
            f"labels known now (arrived within {cfg.max_delay_hours} h): label coverage and "
            + _figures_text(model)
            + " Recomputed when labels for the hour land later (sensor `"
            + f"{model.name}_label_updates`). SQL: `main.model_performance` (latest), "
            "`main.model_performance_history` (every computation)."
        ),
    )
    def _performance(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | Event]:
        wh = warehouse.get()
        hours, skipped = usable_hours(context, model, wh)  # as a one-hour run skips a blocked hour
        results = [performance_hour(model, hour, wh) for hour in hours]
        metadata = (performance_metadata(results) if results else {"hours": 0}) | skipped_metadata(skipped)
        yield dg.MaterializeResult(metadata=metadata)
        outcomes = [o for perf in results for o in checks.performance_checks(model, perf)]
        yield from record_and_evaluate(context, wh, model, "model_performance", outcomes)

    return _performance


def _number(value: float | None) -> Any:
    return dg.MetadataValue.float(float(value)) if value is not None else dg.MetadataValue.text("n/a")


def performance_metadata(results: list[HourPerformance]) -> dict[str, Any]:
    """One hour: every figure, realized beside estimated; a range: per hour (hours_metadata)."""

    def shown(value: float | None, form: str = ".4g") -> str:
        return "" if value is None else f"{value:{form}}"

    return hours_metadata(
        results,
        lambda r: r.hour,
        _one_performance,
        ("coverage", lambda r: r.coverage),
        {
            "coverage": lambda r: shown(r.coverage, ".1%"),
            "metric": lambda r: r.metric,
            "value": lambda r: shown(r.metrics.get(r.metric)),
            "CBPE": lambda r: shown(r.estimated.get(f"estimated_{r.metric}")),
        },
    )


def _one_performance(last: HourPerformance) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "predictions": last.predictions,
        "labelled": last.labelled,
        "label_coverage": _number(last.coverage),
        **{name: _number(value) for name, value in last.metrics.items()},
        **{name: _number(value) for name, value in last.estimated.items()},
        "baseline_" + last.metric: _number(last.baseline),
    }
    if last.per_class is not None and last.confusion is not None:  # multiclass
        metadata["per_class"] = dg.MetadataValue.json(last.per_class)
        metadata["confusion"] = dg.MetadataValue.json(last.confusion)
    lines = ["| figure | realized | estimated (CBPE) |", "|---|---|---|"]
    for name, value in last.metrics.items():
        estimate = last.estimated.get(f"estimated_{name}")
        shown = f"{value:.4g}" if value is not None else f"undefined ({last.notes.get(name, 'no labels')})"
        lines.append(f"| {name} | {shown} | {'' if estimate is None else f'{estimate:.4g}'} |")
    coverage = f"{last.coverage:.1%}" if last.coverage is not None else "n/a"
    metadata["summary"] = dg.MetadataValue.md(
        f"{last.hour:%Y-%m-%d %H}:00 UTC: {last.labelled} of {last.predictions} predictions labelled "
        f"({coverage}).\n\n" + "\n".join(lines)
    )
    return metadata


def labels_job(model: ModelConfig) -> Any:
    return dg.define_asset_job(
        f"{model.name}_labels",
        selection=dg.AssetSelection.assets(dg.AssetKey([model.name, "labels"])),
        description=f"Load `{model.name}`'s labels of one arrival hour (late or skipped label objects).",
    )


def performance_job(model: ModelConfig) -> Any:
    return dg.define_asset_job(
        f"{model.name}_performance",
        selection=dg.AssetSelection.assets(dg.AssetKey([model.name, "model_performance"])),
        description=f"Recompute `{model.name}`'s performance for prediction hours whose labels changed.",
    )


def hour_ranges(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Contiguous runs of hours, as (first, last)."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and hour - ranges[-1][1] == timedelta(hours=1):
            ranges[-1] = (ranges[-1][0], hour)
        else:
            ranges.append((hour, hour))
    return ranges


def label_updates_sensor(model: ModelConfig, job: Any) -> dg.SensorDefinition:
    """Recomputes performance for the prediction hours that new labels belong to, and for hours that
    just reached their coverage deadline (so a label feed that stopped is noticed)."""
    cfg = labels_of(model)
    asset = dg.AssetKey([model.name, "labels"])

    @dg.sensor(
        name=f"{model.name}_label_updates",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"When `{model.name}/labels` is materialized, requests `{model.name}/model_performance` for the "
            "prediction hours those labels belong to; also for each hour as it reaches its label-coverage "
            f"deadline ({cfg.coverage_after_hours} h), so missing labels are reported."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = datetime.now(UTC)
        state = json.loads(context.cursor) if context.cursor else {}
        after = state.get("storage_id")
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset, after_storage_id=after), limit=1000, ascending=True
        ).records
        hours: list[datetime] = []
        for record in records:
            entry = record.asset_materialization
            value = entry.metadata.get("prediction_hours") if entry else None
            hours += [parse_hour(k) for k in (value.value if value is not None else [])]
        # due once its last counted arrival hour has been loaded by the hourly run (and an hour of margin)
        lag = timedelta(hours=2 + cfg.coverage_after_hours, minutes=model.schedule_lag_minutes)
        newest_due = (now - lag).replace(minute=0, second=0, microsecond=0)
        last_due = parse_hour(state["due"]) if "due" in state else newest_due - timedelta(hours=1)
        hour = last_due + timedelta(hours=1)
        while hour <= newest_due:
            hours.append(hour)
            hour += timedelta(hours=1)
        hours = [h for h in hours if h >= model.partitions_start]
        storage_id = records[-1].storage_id if records else after
        requests = [
            dg.RunRequest(
                run_key=f"perf:{model.name}:{first:{KEY_FORMAT}}:{last:{KEY_FORMAT}}:{storage_id}:{newest_due:%H}",
                tags={**range_tags(first, last), "monitoring/trigger": "labels"},
            )
            for first, last in hour_ranges(hours)
        ]
        cursor = json.dumps({"storage_id": storage_id, "due": f"{newest_due:{KEY_FORMAT}}"})
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _sensor
