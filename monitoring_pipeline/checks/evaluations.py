"""What each check finds for one hour (or, where cheaper, for a run's hours at once): plain verdicts
over the warehouse, the drift and the performance of the hour. No Dagster here."""

from __future__ import annotations

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

from monitoring_pipeline.config import ModelConfig, Severity
from monitoring_pipeline.pipeline import arrivals
from monitoring_pipeline.pipeline.column_types import ROLE_TYPES, expected_columns
from monitoring_pipeline.pipeline.ingest import ARROW_TYPES
from monitoring_pipeline.pipeline.performance import HourPerformance, labels_of
from monitoring_pipeline.pipeline.profile_and_drift import HourDrift
from monitoring_pipeline.pipeline.references import load_profiles
from monitoring_pipeline.stats.drift.segments import worst_segments
from monitoring_pipeline.stats.profiles import Profile, merge_profiles
from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.object_store import open_store
from monitoring_pipeline.storage.warehouse import Warehouse

RECENT_HOURS = 24
VOLUME_DAYS = 7


@dataclass(frozen=True)
class Verdict:
    """What an evaluation found for one hour; the check's declaration names it and gives its severity."""

    hour: datetime
    passed: bool
    observed: float | None
    threshold: float | None
    description: str
    details: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # only where the evaluation decides it (None: the declaration's)


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    hour: datetime
    passed: bool
    severity: Severity  # the severity a failure has
    observed: float | None
    threshold: float | None
    description: str
    details: dict[str, Any] = field(default_factory=dict)


def _fetch_partition(warehouse: Warehouse, model: ModelConfig, hour: datetime) -> Path | None:
    return warehouse.fetch_hours(catalog.prediction_logs, model.name, [hour]).get(hour)


def schema_matches(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> Verdict:
    """The stored partition has every declared column with its canonical type (catches a config
    that changed after the hour was loaded, or a partition written by another version)."""
    path = _fetch_partition(warehouse, model, hour)
    schema = pq.read_schema(path) if path else None
    if schema is None:
        return Verdict(hour, False, None, 0, "the hour has not been loaded")
    problems = []
    for column, role in expected_columns(model):
        want = ARROW_TYPES[ROLE_TYPES[role][1]]
        if column not in schema.names:
            problems.append(f"missing column {column!r}")
        elif not schema.field(column).type.equals(want):
            problems.append(f"column {column!r} is {schema.field(column).type}, expected {want}")
    text = "; ".join(problems) if problems else "all declared columns present with their types"
    return Verdict(hour, not problems, len(problems), 0, text, {"problems": problems})


def timestamps_within_hour(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> Verdict:
    """At most `max_outside_hour_share` of the hour's timestamps fall outside [hour - tolerance,
    hour + 1 h + tolerance]: rows stamped days early, hours late, in year 1 or 9999 are the mark of a
    broken clock or a mis-routed file, and would be judged as this hour's traffic. Null timestamps are
    not counted here (the suite's checks see nulls)."""
    t = model.thresholds
    allowed, tolerance = t.max_outside_hour_share, timedelta(minutes=t.timestamp_tolerance_minutes)
    path = _fetch_partition(warehouse, model, hour)
    if path is None:
        return Verdict(hour, True, None, allowed, "the hour has not been loaded: no timestamps to judge")
    low, high = hour - tolerance, hour + timedelta(hours=1) + tolerance
    column = duck.quote_identifier(model.timestamp_column)
    query = (
        f"SELECT count({column}), count(*) FILTER ({column} < ?), count(*) FILTER ({column} > ?), "  # noqa: S608 (a quoted identifier; values bound)
        f"min({column}), max({column}) FROM read_parquet(?)"
    )
    with duck.scratch() as conn:
        stamped, early, late, first, last = conn.execute(query, [low, high, str(path)]).fetchone()
    if not stamped:
        return Verdict(hour, True, None, allowed, "no timestamps in the hour to judge")
    share = (early + late) / stamped
    window = f"[{low:%Y-%m-%d %H:%M}, {high:%Y-%m-%d %H:%M}] UTC"
    text = (
        f"{early + late} of {stamped} timestamps ({share:.2%}) outside {window}: {early} before, "
        f"{late} after; earliest {first.isoformat()}, latest {last.isoformat()} (allowed: {allowed:.2%})"
    )
    details = {
        "outside": early + late,
        "before": early,
        "after": late,
        "timestamps": stamped,
        "earliest": first.isoformat(),
        "latest": last.isoformat(),
        "window": [low.isoformat(), high.isoformat()],
    }
    return Verdict(hour, share <= allowed, share, allowed, text, details)


def _rows(warehouse: Warehouse, model: ModelConfig, hours: Sequence[datetime]) -> dict[datetime, int]:
    """Rows of the loaded hours among `hours`, from the hour facts ingest recorded (no object read)."""
    found = warehouse.results.hour_rows(catalog.hour_facts, model.name, hours, "partition_hour", "rows")
    return {r["partition_hour"]: r["rows"] for r in found}


def hour_is_not_empty(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> Verdict:
    rows = _rows(warehouse, model, [hour]).get(hour, 0)
    text = f"{rows} rows" if rows else "no rows: no objects, or only empty ones, under the hour's prefix"
    return Verdict(hour, rows > 0, rows, 1, text)


def volume_within_band(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> Verdict:
    """Rows within +-volume_band of the median of the same hour of day over the previous 7 days, so a
    daily traffic cycle is not mistaken for a volume problem."""
    band = model.thresholds.volume_band
    previous = [hour - timedelta(days=k) for k in range(1, VOLUME_DAYS + 1)]
    counts = _rows(warehouse, model, [hour, *previous])
    typical = [n for h, n in counts.items() if h != hour and n > 0]
    rows = counts.get(hour, 0)
    if not typical:
        text = "no earlier day has this hour loaded yet: nothing to compare with"
        return Verdict(hour, True, rows, None, text)
    median = statistics.median(typical)
    low, high = (1 - band) * median, (1 + band) * median
    ratio = rows / median
    text = (
        f"{rows} rows, {ratio:.2f}x the median {median:g} of the same hour on {len(typical)} earlier day(s)"
    )
    return Verdict(
        hour,
        low <= rows <= high,
        ratio,
        band,
        text,
        {"rows": rows, "median": median, "low": low, "high": high},
    )


def logs_arrived_on_time(model: ModelConfig, hour: datetime, now: datetime | None = None) -> Verdict:
    """The hour's newest object landed within `freshness_lag_minutes` after the hour's last arrival folder
    closed (the hour's end, partitioned by arrival); an hour with no objects fails once that deadline has
    passed."""
    lag = model.thresholds.freshness_lag_minutes
    closed = arrivals.window_end(model, hour)
    deadline = closed + timedelta(minutes=lag)
    objects = [o for o, _ in arrivals.hour_objects(model, open_store(model.logs), hour)]
    if not objects:
        late = (now or datetime.now(UTC)) > deadline
        return Verdict(
            hour,
            not late,
            None,
            lag,
            "no objects yet" + (f"; the deadline {deadline:%Y-%m-%d %H:%M} UTC has passed" if late else ""),
        )
    newest = max(o.modified for o in objects if o.modified is not None)
    minutes = (newest - closed).total_seconds() / 60
    after = "the hour ended" if closed == hour + timedelta(hours=1) else "its last arrival folder closed"
    text = f"last object landed {minutes:.0f} min after {after} (allowed: {lag:g})"
    return Verdict(
        hour,
        minutes <= lag,
        minutes,
        lag,
        text,
        {"newest_object_at": newest.isoformat()},
    )


def records_within_delay(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> Verdict:
    """Partitioned by event time: no record in the hour's own arrival folder belongs to an hour that no
    longer reads it (late) or does not read it yet (early). Such records are in no hour's statistics:
    counted here, once, by the load of the folder they landed in."""
    by_hour = warehouse.results.hour_rows(catalog.late_arrivals, model.name, [hour])  # beside hour_facts
    late = sum(r["rows"] for r in by_hour if r["kind"] == "late")
    early = sum(r["rows"] for r in by_hour if r["kind"] == "early")
    shown = [
        {"event_hour": r["event_hour"].isoformat(), "kind": r["kind"], "rows": r["rows"]} for r in by_hour
    ]
    text = (
        f"{late} record(s) in this hour's arrival folder belong to hours whose last arrival folder had "
        f"closed (max_arrival_delay_minutes: {model.max_arrival_delay_minutes}), {early} to later hours"
    )
    if shown:
        hours = sorted({r["event_hour"][:13].replace("T", " ") + ":00" for r in shown})
        text += f"; event hours {', '.join(hours[:6])}{' ...' if len(hours) > 6 else ''}"
    details = {"late_records": late, "early_records": early, "by_event_hour": shown[:48]}
    return Verdict(hour, late + early == 0, late + early, 0, text, details)


def data_quality(model: ModelConfig, hour: datetime, warehouse: Warehouse) -> Verdict:
    """The Great Expectations suite built from the config and the last 24 hours' profiles."""
    return data_quality_hours(model, [hour], warehouse)[0]


def data_quality_hours(model: ModelConfig, hours: Sequence[datetime], warehouse: Warehouse) -> list[Verdict]:
    """`data_quality` for every hour of a run, each verdict the same as alone: the profiles they need
    are read once, and small hours are validated together (`quality.validate.validate_hours`: GX's
    cost is per expectation, not per row), never more than BATCH_ROWS rows held at once."""
    from monitoring_pipeline.quality.suite import build_suite
    from monitoring_pipeline.quality.validate import batches, validate_hours

    hours = list(hours)
    previous = sorted({h - timedelta(hours=k) for h in hours for k in range(1, RECENT_HOURS + 1)})
    profiles = load_profiles(warehouse, catalog.feature_profiles, model.name, previous)
    paths = warehouse.fetch_hours(catalog.prediction_logs, model.name, hours)
    rows = _rows(warehouse, model, list(paths))
    verdicts: dict[datetime, Verdict] = {
        h: Verdict(h, False, None, None, "the hour has not been loaded") for h in hours if h not in paths
    }
    loaded = [h for h in hours if h in paths]
    for chunk in batches([rows.get(h, 0) for h in loaded]):
        chunk_hours = [loaded[i] for i in chunk]
        suites = [build_suite(model, _recent(model, profiles, h)) for h in chunk_hours]
        columns = sorted({spec.column for suite in suites for spec in suite})  # the same in every frame
        built = [_quality_frame(model, paths[h], columns) for h in chunk_hours]
        frames, ids = [f for f, _ in built], [i for _, i in built]
        results = validate_hours(frames, suites, name=f"{model.name}_logs")
        for h, found, hour_ids in zip(chunk_hours, results, ids, strict=True):
            verdicts[h] = _quality_verdict(h, [_id_samples(r, model.id_column, hour_ids) for r in found])
    return [verdicts[h] for h in hours]


def _recent(
    model: ModelConfig, profiles: dict[datetime, dict[str, Profile]], hour: datetime
) -> dict[str, Profile]:
    """The hour's previous RECENT_HOURS profiles, merged per monitored column."""
    by_hour = [
        profiles[p] for k in range(1, RECENT_HOURS + 1) if (p := hour - timedelta(hours=k)) in profiles
    ]
    return {
        c.name: m
        for c in model.monitored_columns
        if (m := merge_profiles(p[c.name] for p in by_hour if c.name in p)) is not None
    }


def _quality_frame(model: ModelConfig, path: Path, columns: Sequence[str]) -> tuple[pd.DataFrame, Any]:
    """The columns the suites read, as GX is fast on them: categories as pandas categoricals (cheap to
    fingerprint and filter), prediction ids as factorized codes."""
    categorical = [c.name for c in model.monitored_columns if c.kind == "categorical" and c.name in columns]
    table = pq.read_table(path, columns=columns, read_dictionary=categorical)
    strings = {pa.string(): pd.StringDtype("pyarrow")}.get  # ids stay Arrow strings: fast to factorize
    return _ids_as_codes(table.to_pandas(types_mapper=strings, split_blocks=True), model.id_column)


def _quality_verdict(hour: datetime, results: Sequence[Any]) -> Verdict:
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
    return Verdict(
        hour,
        not failed,
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


def drift_share(model: ModelConfig, drift: HourDrift) -> Verdict:
    """The share of drifted features against the warn and error thresholds. An hour after a fixed window
    that still has no reference is a WARN: drift is not being measured, and the reason says why."""
    s, hour = drift.summary, drift.hour
    unjudged = [r for r in drift.results if r.status == "no_reference"]
    ref = model.reference
    if unjudged and ref.type == "fixed" and ref.end is not None and hour >= ref.end:
        reason = unjudged[0].details.get("reason", "no reference")
        details = {"status": "no_reference"}
        return Verdict(hour, False, None, None, f"drift not measured: {reason}", details, Severity.WARN)
    warn, error = model.thresholds.drift_share_warn, model.thresholds.drift_share_error
    share = s.drift_share
    severity = Severity.ERROR if share is not None and share >= error else Severity.WARN
    return Verdict(
        hour,
        share is None or share < warn,
        share,
        error if severity == Severity.ERROR else warn,
        f"{s.drifted} of {s.evaluated} evaluated features drifted"
        + "".join(f"; {r.feature}: {r.explanation}" for r in s.top if r.explanation)
        if share is not None
        else "no feature could be evaluated (empty hour or no reference)",
        {"drifted_features": [r.feature for r in s.top], "warn": warn, "error": error},
        severity,
    )


def critical_feature(model: ModelConfig, drift: HourDrift, column: str) -> Verdict:
    r = next(r for r in drift.results if r.feature == column)
    return Verdict(
        drift.hour,
        not r.drifted,
        r.score,
        r.threshold,
        (r.explanation or f"{r.test} score {r.score:.4g} vs threshold {r.threshold:g} ({r.status})")
        if r.score is not None
        else f"not evaluated ({r.status})",
        {"p_value": r.p_value, "status": r.status, "fired": r.details.get("fired", [])},
    )


def prediction_drift(model: ModelConfig, drift: HourDrift) -> Verdict:
    predictions = [r for r in drift.results if r.role == "prediction"]
    drifted = [r.feature for r in predictions if r.drifted]
    return Verdict(
        drift.hour,
        not drifted,
        drift.summary.prediction_score,
        1.0,
        "drifted: " + "; ".join(f"{r.feature}: {r.explanation}" for r in predictions if r.drifted)
        if drifted
        else "no prediction column drifted",
        {"drifted_predictions": drifted},
    )


def segments_not_drifted(model: ModelConfig, drift: HourDrift) -> Verdict:
    """Fails when a column drifted within a judged segment (segments x columns controlled together:
    stats/drift/segments.py); says the worst segments and what moved in each."""
    found = drift.segments
    judged = [s for s in found.segments if s.judged]
    worst = worst_segments(found.segments)
    drifted = [s for s in judged if s.drifted]
    if not judged:
        why = (
            found.note or f"no segment has {model.thresholds.min_segment_rows} rows in the hour and reference"
        )
        text = f"no segment judged: {why}"
    elif drifted:
        text = f"{len(drifted)} of {len(judged)} judged segments drifted: " + "; ".join(
            f"{s.segment}: " + ", ".join(f"{r.feature} ({r.explanation})" for r in s.drifted) for s in worst
        )
    else:
        text = f"none of {len(judged)} judged segments drifted"
    details = {
        "segments": len(found.segments),
        "judged": len(judged),
        "drifted_segments": [s.segment for s in drifted],
        "worst": [{"segment": s.segment, "drifted": [r.feature for r in s.drifted]} for s in worst],
        "min_segment_rows": model.thresholds.min_segment_rows,
    }
    return Verdict(drift.hour, not drifted, float(len(drifted)), 0.0, text, details)


def performance_margin(model: ModelConfig, perf: HourPerformance, now: datetime | None = None) -> Verdict:
    """The judged metric against the reference hours' baseline. A drop alarms only when it is past
    `labels.max_drop` (absolute for ROC AUC / accuracy, relative for MAE) AND past 3 standard errors of
    the hour's figure: an hour with few labels (or, for a fraud model, few positives) is reported, not
    judged on noise. WARN past the margin, ERROR past twice it."""
    cfg = labels_of(model)
    hour, value, base = perf.hour, perf.metrics.get(perf.metric), perf.baseline
    worse = None
    if value is not None and base is not None:
        worse = (value - base) / base if perf.metric == "mae" and base > 0 else base - value
    se = perf.metric_se
    if perf.metric == "mae" and se is not None and base:
        se = se / base  # on the relative scale of the margin
    if perf.labelled < cfg.min_labelled:
        passed, severity, why = (
            True,
            Severity.WARN,
            f"not judged: {perf.labelled} labelled (< {cfg.min_labelled})",
        )
    elif worse is None:
        passed, severity, why = True, Severity.WARN, "not judged: no baseline yet or metric undefined"
    else:
        significant = se is None or worse > 3 * se
        severity = Severity.ERROR if worse > 2 * cfg.max_drop else Severity.WARN
        passed = not (worse > cfg.max_drop and significant)
        how = "relative rise" if perf.metric == "mae" else "drop"
        why = (
            f"{perf.metric} {value:.4g} vs baseline {base:.4g} (median of {perf.baseline_hours} reference "
            f"hours): {how} {worse:.3g}, margin {cfg.max_drop:g}, 3 standard errors {3 * (se or 0):.3g}"
        )
    details = {"metric": perf.metric, "labelled": perf.labelled, "standard_error": perf.metric_se}
    details["worse"] = worse
    recalls = {c: f["recall"] for c, f in (perf.per_class or {}).items() if f.get("recall") is not None}
    if recalls:  # multiclass: which class the model is failing
        low = min(recalls, key=lambda c: recalls[c])
        why += f"; lowest recall: {low} {recalls[low]:.3g}"
        details["recall_per_class"] = recalls
    return Verdict(hour, passed, value, base, why, details, severity)


def label_coverage(model: ModelConfig, perf: HourPerformance, now: datetime | None = None) -> Verdict:
    """Label coverage, once the hour is old enough for its labels to have arrived."""
    cfg, hour = labels_of(model), perf.hour
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
    return Verdict(
        hour,
        ok,
        coverage,
        cfg.min_coverage,
        why,
        {"labelled": perf.labelled, "predictions": perf.predictions, "due": due.isoformat()},
    )
