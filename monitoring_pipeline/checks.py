"""Check evaluations per (model, hour) over the warehouse, as plain outcomes (no Dagster here),
and the `check_results` table that keeps one row per check, hour and evaluation.

Dagster records one result per check per run (per-partition checks are a preview feature), so the
per-hour history lives here; the Dagster glue folds a run's hours into that one result.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.hourly import HourDrift, load_profiles
from monitoring_pipeline.ingest import ROLE_TYPES, expected_columns
from monitoring_pipeline.performance import HourPerformance, labels_of
from monitoring_pipeline.stats.profiles import merge_profiles
from monitoring_pipeline.storage import catalog, layout
from monitoring_pipeline.storage.object_store import open_store
from monitoring_pipeline.storage.warehouse import Warehouse

BLOCKING = ("schema_matches", "hour_is_not_empty")
RECENT_HOURS = 24
VOLUME_DAYS = 7


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    hour: datetime
    passed: bool
    severity: str  # the severity a failure has: WARN or ERROR
    observed: float | None
    threshold: float | None
    description: str
    details: dict[str, Any] = field(default_factory=dict)


def _fetch_partition(warehouse: Warehouse, model: ModelConfig, hour: datetime) -> Path | None:
    return warehouse.fetch_hours(catalog.prediction_logs, model.name, [hour]).get(hour)


def schema_matches(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> CheckOutcome:
    """The stored partition has every declared column with its canonical type (catches a config
    that changed after the hour was loaded, or a partition written by another version)."""
    path = _fetch_partition(warehouse, model, hour)
    schema = pq.read_schema(path) if path else None
    if schema is None:
        return CheckOutcome("schema_matches", hour, False, "ERROR", None, 0, "the hour has not been loaded")
    expected = {"DOUBLE": pa.float64(), "VARCHAR": pa.string(), "TIMESTAMPTZ": pa.timestamp("us", tz="UTC")}
    problems = []
    for column, role in expected_columns(model):
        want = expected[ROLE_TYPES[role][1]]
        if column not in schema.names:
            problems.append(f"missing column {column!r}")
        elif not schema.field(column).type.equals(want):
            problems.append(f"column {column!r} is {schema.field(column).type}, expected {want}")
    text = "; ".join(problems) if problems else "all declared columns present with their types"
    return CheckOutcome(
        "schema_matches", hour, not problems, "ERROR", len(problems), 0, text, {"problems": problems}
    )


def _rows(warehouse: Warehouse, model: ModelConfig, hours: Sequence[datetime]) -> dict[datetime, int]:
    """Rows of the loaded hours among `hours`, from the hour facts ingest recorded (no object read)."""
    found = warehouse.results.hour_rows(catalog.hour_facts, model.name, hours, "partition_hour", "rows")
    return {r["partition_hour"]: r["rows"] for r in found}


def hour_is_not_empty(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> CheckOutcome:
    rows = _rows(warehouse, model, [hour]).get(hour, 0)
    text = f"{rows} rows" if rows else "no rows: no objects, or only empty ones, under the hour's prefix"
    return CheckOutcome("hour_is_not_empty", hour, rows > 0, "ERROR", rows, 1, text)


def volume_within_band(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> CheckOutcome:
    """Rows within +-volume_band of the median of the same hour of day over the previous 7 days, so a
    daily traffic cycle is not mistaken for a volume problem."""
    band, severity = model.thresholds.volume_band, model.severities.volume
    previous = [hour - timedelta(days=k) for k in range(1, VOLUME_DAYS + 1)]
    counts = _rows(warehouse, model, [hour, *previous])
    typical = [n for h, n in counts.items() if h != hour and n > 0]
    rows = counts.get(hour, 0)
    if not typical:
        text = "no earlier day has this hour loaded yet: nothing to compare with"
        return CheckOutcome("volume_within_band", hour, True, severity, rows, None, text)
    median = statistics.median(typical)
    low, high = (1 - band) * median, (1 + band) * median
    ratio = rows / median
    text = (
        f"{rows} rows, {ratio:.2f}x the median {median:g} of the same hour on {len(typical)} earlier day(s)"
    )
    return CheckOutcome(
        "volume_within_band",
        hour,
        low <= rows <= high,
        severity,
        ratio,
        band,
        text,
        {"rows": rows, "median": median, "low": low, "high": high},
    )


def logs_arrived_on_time(model: ModelConfig, hour: datetime, now: datetime | None = None) -> CheckOutcome:
    """The hour's newest object landed within `freshness_lag_minutes` after the hour ended; an hour
    with no objects fails once that deadline has passed."""
    lag = model.thresholds.freshness_lag_minutes
    deadline = hour + timedelta(hours=1, minutes=lag)
    objects = [
        o
        for o in open_store(model.logs).list(layout.hour_prefix(model.name, hour))
        if layout.is_data_object(o.key)
    ]
    severity = model.severities.freshness
    if not objects:
        late = (now or datetime.now(UTC)) > deadline
        return CheckOutcome(
            "logs_arrived_on_time",
            hour,
            not late,
            severity,
            None,
            lag,
            "no objects yet" + (f"; the deadline {deadline:%Y-%m-%d %H:%M} UTC has passed" if late else ""),
        )
    newest = max(o.modified for o in objects if o.modified is not None)
    minutes = (newest - hour - timedelta(hours=1)).total_seconds() / 60
    text = f"last object landed {minutes:.0f} min after the hour ended (allowed: {lag:g})"
    return CheckOutcome(
        "logs_arrived_on_time",
        hour,
        minutes <= lag,
        severity,
        minutes,
        lag,
        text,
        {"newest_object_at": newest.isoformat()},
    )


def data_quality(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> CheckOutcome:
    """The Great Expectations suite built from the config and the last 24 hours' profiles."""
    from monitoring_pipeline.quality.suite import build_suite
    from monitoring_pipeline.quality.validate import validate

    previous = [hour - timedelta(hours=k) for k in range(1, RECENT_HOURS + 1)]
    by_hour = load_profiles(warehouse, catalog.feature_profiles, model.name, previous)
    recent = {
        c.name: m
        for c in model.monitored_columns
        if (m := merge_profiles(p[c.name] for p in by_hour.values() if c.name in p)) is not None
    }
    specs = build_suite(model, recent)
    columns = sorted({s.column for s in specs})
    path = _fetch_partition(warehouse, model, hour)
    categorical = [c.name for c in model.monitored_columns if c.kind == "categorical" and c.name in columns]
    # categories read as dictionaries (pandas categoricals): cheap for GX to fingerprint and filter
    table = pq.read_table(path, columns=columns, read_dictionary=categorical) if path else None
    ids = None
    strings = {pa.string(): pd.StringDtype("pyarrow")}.get  # ids stay Arrow strings: fast to factorize
    frame = table.to_pandas(types_mapper=strings, split_blocks=True) if table is not None else None
    if frame is not None:
        frame, ids = _ids_as_codes(frame, model.id_column)
    severity = model.severities.data_quality
    if frame is None:
        return CheckOutcome(
            "data_quality_expectations_pass",
            hour,
            False,
            severity,
            None,
            None,
            "the hour has not been loaded",
        )
    results = [
        _id_samples(r, model.id_column, ids) for r in validate(frame, specs, name=f"{model.name}_logs")
    ]
    failed = [r for r in results if not r.success]
    worst = min((r.observed for r in results if r.observed is not None), default=None)
    text = (
        (
            f"{len(failed)} of {len(results)} expectations failed: "
            + "; ".join(
                f"{r.column} {r.description or r.expectation}"
                + (
                    f" ({r.error})"
                    if r.error
                    else f" ({r.observed:.1%} of rows, need {r.threshold:.0%})"
                    if r.observed is not None
                    else ""
                )
                for r in failed
            )
        )
        if failed
        else f"all {len(results)} expectations passed"
    )
    return CheckOutcome(
        "data_quality_expectations_pass",
        hour,
        not failed,
        severity,
        len(failed),
        0,
        text,
        {"expectations": [r.__dict__ for r in results], "worst_share": worst},
    )


def _ids_as_codes(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, Any]:
    """Prediction ids replaced by their factorized codes (NaN where null): the same nulls and the same
    duplicates, at a fraction of the cost of hashing a million strings."""
    if column not in frame.columns:
        return frame, None
    codes, uniques = pd.factorize(frame[column])
    return frame.assign(**{column: np.where(codes < 0, np.nan, codes.astype(float))}), uniques


def _id_samples(result: Any, column: str, ids: Any) -> Any:
    if result.column != column or ids is None or not result.sample_values:
        return result
    samples = [str(ids[int(float(v))]) for v in result.sample_values if v not in ("nan", "None")]
    return replace(result, sample_values=samples)


def drift_checks(model: ModelConfig, drift: HourDrift) -> list[CheckOutcome]:
    """Drift share against the warn/error thresholds, each critical feature, and prediction drift."""
    s, hour = drift.summary, drift.hour
    warn, error = model.thresholds.drift_share_warn, model.thresholds.drift_share_error
    share = s.drift_share
    severity = "ERROR" if share is not None and share >= error else "WARN"
    outcomes = [
        CheckOutcome(
            "drift_share_below_threshold",
            hour,
            share is None or share < warn,
            severity,
            share,
            error if severity == "ERROR" else warn,
            f"{s.drifted} of {s.evaluated} evaluated features drifted"
            + "".join(f"; {r.feature}: {r.explanation}" for r in s.top if r.explanation)
            if share is not None
            else "no feature could be evaluated (empty hour or no reference)",
            {"drifted_features": [r.feature for r in s.top], "warn": warn, "error": error},
        )
    ]
    by_name = {r.feature: r for r in drift.results}
    for column in model.features:
        if column.critical:
            r = by_name[column.name]
            outcomes.append(
                CheckOutcome(
                    f"{column.name}_not_drifted",
                    hour,
                    not r.drifted,
                    model.severities.critical_feature_drift,
                    r.score,
                    r.threshold,
                    (
                        r.explanation
                        or f"{r.test} score {r.score:.4g} vs threshold {r.threshold:g} ({r.status})"
                    )
                    if r.score is not None
                    else f"not evaluated ({r.status})",
                    {"p_value": r.p_value, "status": r.status, "fired": r.details.get("fired", [])},
                )
            )
    predictions = [r for r in drift.results if r.role == "prediction"]
    drifted = [r.feature for r in predictions if r.drifted]
    outcomes.append(
        CheckOutcome(
            "prediction_not_drifted",
            hour,
            not drifted,
            model.severities.prediction_drift,
            s.prediction_score,
            1.0,
            "drifted: " + "; ".join(f"{r.feature}: {r.explanation}" for r in predictions if r.drifted)
            if drifted
            else "no prediction column drifted",
            {"drifted_predictions": drifted},
        )
    )
    return outcomes


def performance_checks(
    model: ModelConfig, perf: HourPerformance, now: datetime | None = None
) -> list[CheckOutcome]:
    """The judged metric against the reference hours' baseline, and label coverage once it is due.

    A drop alarms only when it is past `labels.max_drop` (absolute for ROC AUC / accuracy, relative for
    MAE) AND past 3 standard errors of the hour's figure: an hour with few labels (or, for a fraud model,
    few positives) is reported, not judged on noise. WARN past the margin, ERROR past twice it."""
    cfg = labels_of(model)
    hour, value, base = perf.hour, perf.metrics.get(perf.metric), perf.baseline
    worse = None
    if value is not None and base is not None:
        worse = (value - base) / base if perf.metric == "mae" and base > 0 else base - value
    se = perf.metric_se
    if perf.metric == "mae" and se is not None and base:
        se = se / base  # on the relative scale of the margin
    if perf.labelled < cfg.min_labelled:
        passed, severity, why = True, "WARN", f"not judged: {perf.labelled} labelled (< {cfg.min_labelled})"
    elif worse is None:
        passed, severity, why = True, "WARN", "not judged: no baseline yet or metric undefined"
    else:
        significant = se is None or worse > 3 * se
        severity = "ERROR" if worse > 2 * cfg.max_drop else "WARN"
        passed = not (worse > cfg.max_drop and significant)
        how = "relative rise" if perf.metric == "mae" else "drop"
        why = (
            f"{perf.metric} {value:.4g} vs baseline {base:.4g} (median of {perf.baseline_hours} reference "
            f"hours): {how} {worse:.3g}, margin {cfg.max_drop:g}, 3 standard errors {3 * (se or 0):.3g}"
        )
    outcomes = [
        CheckOutcome(
            "performance_within_margin",
            hour,
            passed,
            severity,
            value,
            base,
            why,
            {
                "metric": perf.metric,
                "labelled": perf.labelled,
                "standard_error": perf.metric_se,
                "worse": worse,
            },
        )
    ]
    now = now or datetime.now(UTC)
    due = hour + timedelta(hours=1 + cfg.coverage_after_hours)
    needed = hour + timedelta(hours=cfg.coverage_after_hours)  # the last arrival hour that counts
    loaded = perf.labels_loaded_through
    coverage = perf.coverage
    if perf.predictions == 0:
        ok, why = True, "no predictions in the hour"
    elif now < due:
        ok, why = True, f"not due: coverage is checked from {due:%Y-%m-%d %H:%M} UTC ({coverage:.0%} now)"
    elif loaded is None or loaded < needed:  # e.g. a backfill that has not reached those hours yet
        through = f"through {loaded:%Y-%m-%d %H}:00" if loaded else "for none of its hours"
        ok, why = True, f"not judged yet: labels loaded {through}, needed through {needed:%Y-%m-%d %H}:00"
    else:
        ok = coverage is not None and coverage >= cfg.min_coverage
        why = f"{perf.labelled} of {perf.predictions} predictions labelled ({coverage:.1%})"
    outcomes.append(
        CheckOutcome(
            "label_coverage_sufficient",
            hour,
            ok,
            model.severities.label_coverage,
            coverage,
            cfg.min_coverage,
            why,
            {"labelled": perf.labelled, "predictions": perf.predictions, "due": due.isoformat()},
        )
    )
    return outcomes


def record(
    warehouse: Warehouse, model: str, asset: str, check: str, run_id: str, outcomes: Sequence[CheckOutcome]
) -> int:
    """Persist one evaluation of `check` for every hour in `outcomes`, in one transaction: a row per hour in
    check_history, and check_results' latest row per hour replaced unless a newer evaluation is there."""
    now = datetime.now(UTC)
    rows = [
        {
            "model": model,
            "asset": asset,
            "check_name": o.check,
            "partition_hour": o.hour,
            "passed": o.passed,
            "status": "passed" if o.passed else "failed",
            "severity": o.severity,
            "observed": None if o.observed is None else float(o.observed),
            "threshold": None if o.threshold is None else float(o.threshold),
            "description": o.description,
            "details": json.dumps(o.details, default=str),
            "run_id": run_id,
            "evaluated_at": now,
        }
        for o in outcomes
    ]
    with warehouse.results.transaction() as conn:
        warehouse.results.upsert(catalog.check_history, rows, conn=conn)
        return warehouse.results.upsert(catalog.check_results, rows, conn=conn, newer="evaluated_at")


def run_rows(warehouse: Warehouse, model: str, checks: Sequence[str], run_id: str) -> list[dict[str, Any]]:
    """The per-hour rows the run's evaluations of `checks` recorded (by index on the run)."""
    history = catalog.check_history
    stmt = sa.select(history).where(
        history.c.run_id == run_id, history.c.model == model, history.c.check_name.in_(list(checks))
    )
    return warehouse.results.rows(stmt, sort=["check_name", "partition_hour"])


def failed_blocking_hours(warehouse: Warehouse, model: str, run_id: str) -> set[datetime]:
    """Hours of this run whose blocking checks failed: downstream assets skip exactly these."""
    return {r["partition_hour"] for r in run_rows(warehouse, model, BLOCKING, run_id) if not r["passed"]}
