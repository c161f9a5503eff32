"""Labels and model performance over the warehouse (no Dagster here).

Labels land late, in objects laid out like the logs but under the hour they *arrived*
(`<labels.location>/<model>/dt=.../hour=HH/*.parquet`), because that is all a label producer knows
and it is what makes a late label a new object rather than a rewrite of an old one. `ingest_labels`
loads one arrival hour and notes, per label, the prediction hour it belongs to (a join by prediction
id over the `max_delay_hours` before). Performance is partitioned by *prediction* hour:
`performance_hour` joins the hour's predictions with every label that arrived within
`max_delay_hours` after it, so when labels for an old hour land, recomputing that hour updates it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from monitoring_pipeline.config import LabelsConfig, ModelConfig
from monitoring_pipeline.pipeline.column_types import INTEGER_TYPES, NUMERIC_TYPES, IngestError
from monitoring_pipeline.pipeline.multiclass_performance import multiclass_hour
from monitoring_pipeline.stats.performance_metrics import (
    Metrics,
    calibration_counts,
    calibrator_from_counts,
    cbpe,
    classification_metrics,
    regression_metrics,
)
from monitoring_pipeline.storage import catalog, duck, fingerprints, layout
from monitoring_pipeline.storage.label_index import arrival_window, loaded_arrivals, match_labels
from monitoring_pipeline.storage.object_store import ObjectStore
from monitoring_pipeline.storage.warehouse import Warehouse


def labels_of(model: ModelConfig) -> LabelsConfig:
    if model.labels is None:
        raise ValueError(f"model {model.name!r} has no `labels` in the monitors file")
    return model.labels


def judged_metric(model: ModelConfig) -> str:
    """The metric the performance check compares: ROC AUC with scores, else accuracy; macro F1
    (multiclass); MAE (regressors)."""
    if model.task == "regression":
        return "mae"
    if model.multiclass:
        return "macro_f1"
    return "roc_auc" if labels_of(model).score_column else "accuracy"


# ---------------------------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class LabelsResult:
    hour: datetime
    rows: int
    matched: int
    unknown_ids: int
    prediction_hours: tuple[datetime, ...]
    files: tuple[str, ...]


def _label_type_ok(model: ModelConfig, source_type: str) -> bool:
    if model.task == "regression":
        return source_type in NUMERIC_TYPES or source_type.startswith("DECIMAL")
    return source_type in {"VARCHAR", "BOOLEAN"} | INTEGER_TYPES


def ingest_labels(
    model: ModelConfig, hour: datetime, store: ObjectStore, warehouse: Warehouse
) -> LabelsResult:
    """Load the labels that arrived during `hour` and publish them to the `labels` table (replacing an
    earlier load of the hour). Each label gets the prediction hour it belongs to, or none when no
    prediction of the previous `max_delay_hours` has its id (counted as unknown, never joined)."""
    cfg = labels_of(model)
    objects = [o for o in store.list(layout.hour_prefix(model.name, hour)) if layout.is_data_object(o.key)]
    label_type = "DOUBLE" if model.task == "regression" else "VARCHAR"
    with duck.scratch() as conn:
        paths = store.fetch(objects)
        selects, params = [], []
        for obj, path in zip(objects, paths, strict=True):
            try:
                rel = conn.read_parquet(str(path), hive_partitioning=False)
                found = {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
            except duckdb.Error as exc:
                raise IngestError(f"label object {obj.uri}: not a readable Parquet file ({exc})") from exc
            for column, ok in ((cfg.id_column, lambda t: t in {"VARCHAR", "UUID"} | INTEGER_TYPES),
                               (cfg.column, lambda t: _label_type_ok(model, t))):  # fmt: skip
                if column not in found:
                    raise IngestError(
                        f"label object {obj.uri}: missing column {column!r} (model {model.name!r}: "
                        f"labels.{'column' if column == cfg.column else 'id_column'}); "
                        f"present: {sorted(found)}"
                    )
                if not ok(found[column]):
                    raise IngestError(
                        f"label object {obj.uri}: column {column!r} has type {found[column]}, not a "
                        f"{'number' if column == cfg.column and model.task == 'regression' else 'string'}"
                    )
            selects.append(
                f"SELECT CAST({duck.quote_identifier(cfg.id_column)} AS VARCHAR) AS prediction_id, "
                f"CAST({duck.quote_identifier(cfg.column)} AS {label_type}) AS label, "
                "CAST(? AS VARCHAR) AS source_object FROM read_parquet(?, hive_partitioning = false)"
            )
            params += [obj.uri, str(path)]
        empty = (
            f"SELECT NULL::VARCHAR AS prediction_id, NULL::{label_type} AS label, "
            "NULL::VARCHAR AS source_object"
        )
        source = " UNION ALL ".join(selects) if selects else empty + " WHERE false"
        sql = (
            f"SELECT prediction_id, label, CAST(? AS TIMESTAMPTZ) AS arrival_hour, "
            f"{fingerprints.sql('prediction_id')} AS fingerprint, source_object FROM ({source}) l"
        )
        try:
            read = conn.execute(sql, [hour, *params]).to_arrow_table()
        except duckdb.Error as exc:
            raise IngestError(f"cannot read labels of {', '.join(o.uri for o in objects)}: {exc}") from exc
    probe, known = fingerprints.probe(read.column("fingerprint"))
    latest, links = match_labels(model, hour, probe, known, warehouse)
    hours_of = pa.array(latest, pa.int64(), mask=latest < 0).cast(pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "prediction_id": read.column("prediction_id"),
            "label": read.column("label"),
            "arrival_hour": read.column("arrival_hour"),
            "prediction_hour": hours_of,
            "source_object": read.column("source_object"),
        }
    ).cast(labels_schema(model))
    matched = int((latest >= 0).sum())
    warehouse.put_object(catalog.labels, model.name, hour, table)
    facts = {"model": model.name, "partition_hour": hour, "rows": len(table), "matched": matched}
    facts |= {"unknown_ids": len(table) - matched, "objects": len(objects)}
    facts |= {"bytes": sum(o.size for o in objects), "loaded_at": datetime.now(UTC)}
    with warehouse.results.transaction() as txn:  # an arrival hour is loaded with its links, or not at all
        match = {"model": model.name, "arrival_hour": hour}
        before = warehouse.results.replace(catalog.label_links, match, links, txn)
        warehouse.results.upsert(catalog.label_facts, [facts], conn=txn)
    # the hours whose labels changed: those linked now, and those a re-load took labels from
    changed = {r["partition_hour"] for r in links} | {r["partition_hour"] for r in before}
    return LabelsResult(
        hour=hour,
        rows=len(table),
        matched=matched,
        unknown_ids=len(table) - matched,
        prediction_hours=tuple(sorted(changed)),
        files=tuple(o.uri for o in objects),
    )


def labels_schema(model: ModelConfig) -> pa.Schema:
    return pa.schema(
        [
            ("prediction_id", pa.string()),
            ("label", pa.float64() if model.task == "regression" else pa.string()),
            ("arrival_hour", pa.timestamp("us", tz="UTC")),
            ("prediction_hour", pa.timestamp("us", tz="UTC")),
            ("source_object", pa.string()),
        ]
    )


# ----------------------------------------------------------------------------------------- performance


@dataclass(frozen=True)
class HourPerformance:
    model: str
    hour: datetime
    predictions: int
    labelled: int
    label_hours: int  # arrival hours loaded within `max_delay_hours` after the hour
    labels_loaded_through: (
        datetime | None
    )  # every arrival hour from the prediction hour to this one is loaded
    metrics: dict[str, float | None]
    notes: dict[str, str]
    metric: str  # the judged metric
    metric_se: float | None  # its standard error on this hour's labelled rows
    baseline: float | None  # the judged metric over the reference hours
    baseline_hours: int
    estimated: dict[str, float | None]  # CBPE on every prediction of the hour (classifiers with scores)
    # per logit bin: n, positives (multiclass: {class: [...]}, one-vs-rest)
    calibration: list[dict[str, int]] | dict[str, list[dict[str, int]]] = field(default_factory=list)
    per_class: dict[str, dict[str, Any]] | None = None  # multiclass: realized (and estimated) per class
    confusion: dict[str, Any] | None = None  # multiclass: {"classes", "matrix": [[label i, predicted j]]}
    computed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def coverage(self) -> float | None:
        return self.labelled / self.predictions if self.predictions else None


def _joined(
    model: ModelConfig, hour: datetime, warehouse: Warehouse
) -> tuple[dict[str, np.ndarray], int, list[datetime]]:
    """(columns of the hour's predictions with their latest label or null, predictions, label hours)."""
    cfg = labels_of(model)
    predictions = warehouse.fetch_hours(catalog.prediction_logs, model.name, [hour])
    loaded = loaded_arrivals(model, hour, warehouse)
    if not loaded and warehouse.hours_present(catalog.labels, model.name, arrival_window(model, hour)):
        raise ValueError(
            f"model {model.name!r}: labels objects after {hour:%Y-%m-%d %H}:00 have no `label_facts` rows: "
            "written by a previous release (run `monitoring-pipeline migrate`) or by an interrupted load "
            "(re-run the labels of those hours)"
        )
    links = warehouse.results.hour_rows(catalog.label_links, model.name, [hour], "arrival_hour")
    # only the arrival hours that hold labels for this hour are read
    linked = sorted({r["arrival_hour"] for r in links} & set(loaded))
    columns = [c for c in (cfg.score_column, cfg.class_column, cfg.prediction_column) if c]
    columns += list((cfg.score_columns or {}).values())
    if hour not in predictions:
        return {c: np.array([]) for c in [*columns, "label", "has_label"]}, 0, loaded
    label_files = warehouse.fetch_hours(catalog.labels, model.name, linked)
    picked = ", ".join(
        f"CAST(p.{duck.quote_identifier(c)} AS {'VARCHAR' if c == cfg.class_column else 'DOUBLE'}) "
        f"AS {duck.quote_identifier(c)}"
        for c in columns
    )
    ids = duck.quote_identifier(model.id_column)
    if label_files:  # a corrected label (same id, later arrival) replaces the earlier one
        latest = (
            "SELECT prediction_id, arg_max(label, arrival_hour) AS label "
            "FROM read_parquet(?, hive_partitioning = false) GROUP BY 1"
        )
        params: list[Any] = [[str(p) for p in label_files.values()]]
    else:
        latest, params = "SELECT NULL::VARCHAR AS prediction_id, NULL AS label WHERE false", []
    sql = (
        f"WITH l AS ({latest}) SELECT {picked}, l.label FROM read_parquet(?, hive_partitioning = false) p "
        f"LEFT JOIN l ON CAST(p.{ids} AS VARCHAR) = l.prediction_id"
    )
    with duck.scratch() as conn:
        table = conn.execute(sql, [*params, str(predictions[hour])]).to_arrow_table()
    data = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
    data["has_label"] = table.column("label").is_valid().to_numpy(zero_copy_only=False)
    return data, len(table), loaded


def loaded_through(hour: datetime, arrivals: Sequence[datetime]) -> datetime | None:
    """The last arrival hour up to which every arrival hour from `hour` on has its labels loaded."""
    present, last, at = set(arrivals), None, hour
    while at in present:
        last, at = at, at + timedelta(hours=1)
    return last


def _positive(values: np.ndarray, positive: str) -> np.ndarray:
    return np.array([str(v) == positive for v in values], dtype=np.int64)


def standard_error(
    metric: str, metrics: dict[str, float | None], y: np.ndarray, errors: np.ndarray
) -> float | None:
    """Sampling error of the judged metric on this hour's labels: Hanley & McNeil (1982) for ROC AUC,
    binomial for accuracy, the mean's for MAE."""
    value = metrics.get(metric)
    if value is None or len(y) < 2:
        return None
    if metric == "roc_auc":
        pos, neg = int(y.sum()), int(len(y) - y.sum())
        q1, q2 = value / (2 - value), 2 * value**2 / (1 + value)
        var = (value * (1 - value) + (pos - 1) * (q1 - value**2) + (neg - 1) * (q2 - value**2)) / (pos * neg)
        return math.sqrt(max(var, 0.0))
    if metric == "accuracy":
        return math.sqrt(value * (1 - value) / len(y))
    return float(np.std(np.abs(errors), ddof=1) / math.sqrt(len(errors)))


def performance_hour(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> HourPerformance:
    """Join the hour's predictions with the labels known now, compute the metrics, estimate with CBPE,
    compare with the reference hours, and publish the hour (replacing) plus a history row."""
    cfg = labels_of(model)
    metric = judged_metric(model)
    data, n, arrivals = _joined(model, hour, warehouse)
    reference = load_performance(
        model, [hour - timedelta(hours=k) for k in range(1, cfg.reference_hours + 1)], warehouse
    )
    has_label = np.asarray(data["has_label"], dtype=bool)
    labelled = int(has_label.sum())
    estimated: dict[str, float | None] = {}
    calibration: Any = []
    multi = None
    if model.multiclass:
        multi = multiclass_hour(model, data, reference)
        result = Metrics(multi.metrics, multi.notes)
        estimated, calibration = multi.estimated, multi.calibration
        y, errors = np.array([]), np.array([])
    elif model.task == "regression":
        actual = np.asarray(data["label"][has_label], dtype=float)
        predicted = np.asarray(data[cfg.prediction_column][has_label], dtype=float)
        result = regression_metrics(actual, predicted)
        y, errors = actual, predicted - actual
    else:
        positive = str(cfg.positive_class)
        y = _positive(np.asarray(data["label"][has_label]), positive)
        score = np.asarray(data[cfg.score_column], dtype=float) if cfg.score_column else None
        if cfg.class_column:
            all_predicted = _positive(np.asarray(data[cfg.class_column]), positive)
        else:
            all_predicted = (score >= 0.5).astype(np.int64)
        result = classification_metrics(
            y, all_predicted[has_label], None if score is None else score[has_label]
        )
        errors = np.array([])
        if score is not None:
            calibration = calibration_counts(y, score[has_label])
            merged = [row for r in reference for row in r["calibration"] or []]
            estimated = cbpe(score, all_predicted, calibrator_from_counts(merged, cfg.min_labelled))
    judged = [r for r in reference if r["metric_value"] is not None and r["labelled"] >= cfg.min_labelled]
    # the median of the reference hours' figures: one bad hour (an incident) does not move the baseline
    baseline = float(np.median([r["metric_value"] for r in judged])) if judged else None
    perf = HourPerformance(
        model=model.name,
        hour=hour,
        predictions=n,
        labelled=labelled,
        label_hours=len(arrivals),
        labels_loaded_through=loaded_through(hour, arrivals),
        metrics=result.values,
        notes=result.notes,
        metric=metric,
        metric_se=multi.metric_se if multi else standard_error(metric, result.values, y, errors),
        baseline=baseline,
        baseline_hours=len(judged),
        estimated=estimated,
        calibration=calibration,
        per_class=multi.per_class if multi else None,
        confusion=multi.confusion if multi else None,
    )
    row = performance_row(perf)
    with warehouse.results.transaction() as conn:
        warehouse.results.upsert(catalog.model_performance, [row], conn=conn)
        warehouse.results.upsert(catalog.model_performance_history, [row], conn=conn)
    return perf


def load_performance(model: ModelConfig, hours: list[datetime], warehouse: Warehouse) -> list[dict[str, Any]]:
    """The stored performance rows of `hours` (by index), calibration decoded."""
    rows = warehouse.results.hour_rows(catalog.model_performance, model.name, hours)
    return [r | {"calibration": json.loads(r["calibration"] or "[]")} for r in rows]


def performance_row(perf: HourPerformance) -> dict[str, Any]:
    return {
        "model": perf.model,
        "partition_hour": perf.hour,
        "predictions": perf.predictions,
        "labelled": perf.labelled,
        "label_coverage": perf.coverage,
        "label_hours": perf.label_hours,
        "labels_loaded_through": perf.labels_loaded_through,
        **perf.metrics,
        "estimated_accuracy": perf.estimated.get("estimated_accuracy"),
        "estimated_roc_auc": perf.estimated.get("estimated_roc_auc"),
        "estimated_macro_f1": perf.estimated.get("estimated_macro_f1"),
        "per_class": None if perf.per_class is None else json.dumps(perf.per_class),
        "confusion": None if perf.confusion is None else json.dumps(perf.confusion),
        "metric": perf.metric,
        "metric_value": perf.metrics.get(perf.metric),
        "metric_se": perf.metric_se,
        "baseline_value": perf.baseline,
        "baseline_hours": perf.baseline_hours,
        "notes": json.dumps(perf.notes),
        "calibration": json.dumps(perf.calibration),
        "computed_at": perf.computed_at,
    }
