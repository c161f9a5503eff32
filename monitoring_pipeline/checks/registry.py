"""Every check declared once (`DECLARED`): its name, asset, severity, blocking or not, and its
evaluation. The Dagster specs, the evaluations and the recorded rows are all built from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitoring_pipeline.checks.evaluations import (
    CheckOutcome,
    Verdict,
    critical_feature,
    data_quality,
    data_quality_hours,
    drift_share,
    hour_is_not_empty,
    label_coverage,
    logs_arrived_on_time,
    performance_margin,
    prediction_drift,
    records_within_delay,
    schema_matches,
    segments_not_drifted,
    timestamps_within_hour,
    volume_within_band,
)
from monitoring_pipeline.checks.multivariate import multivariate_within_band
from monitoring_pipeline.config import ModelConfig, Severity
from monitoring_pipeline.pipeline.multivariate import HourMultivariate
from monitoring_pipeline.pipeline.performance import HourPerformance, judged_metric, labels_of
from monitoring_pipeline.pipeline.profile_and_drift import HourDrift
from monitoring_pipeline.storage.warehouse import Warehouse

# ---- the declarations: every check, once --------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """A check as declared once: the Dagster spec, the evaluation and the recorded rows all come from it.

    `severity` is what a failure is: a fixed Severity, the name of a `severities` field of the model
    (configurable), or None where the evaluation decides (a WARN band and an ERROR band). `columns`
    makes it a family: one check per column it returns, `name` holding `{column}`."""

    name: str
    asset: str
    evaluate: Callable[..., Verdict]
    describe: Callable[..., str]
    severity: Severity | str | None
    blocking: bool = False
    after: tuple[str, ...] = ()  # other assets of the model it reads: it runs after them
    columns: Callable[[ModelConfig], Sequence[str]] | None = None
    applies: Callable[[ModelConfig], bool] = lambda model: True
    # the evaluation of many hours at once (model, hours, warehouse) -> one Verdict per hour, each the
    # same as `evaluate` gives alone; where one pass over the hours is cheaper than one per hour
    evaluate_hours: Callable[..., list[Verdict]] | None = None


@dataclass(frozen=True)
class Check:
    """One declared check of one model (a family's member for one column)."""

    declared: Declared
    name: str
    column: str | None = None

    @property
    def asset(self) -> str:
        return self.declared.asset

    @property
    def blocking(self) -> bool:
        return self.declared.blocking

    def severity(self, model: ModelConfig) -> Severity:
        fixed = self.declared.severity
        if isinstance(fixed, Severity):
            return fixed
        assert fixed is not None, f"{self.name}: its evaluation gives the severity"
        return Severity(getattr(model.severities, fixed))

    def description(self, model: ModelConfig) -> str:
        d = self.declared
        text = d.describe(model, self.column) if d.columns else d.describe(model)
        if d.blocking:
            return f"Blocking: {text}"
        return text if d.severity is None else f"{self.severity(model)}: {text}"  # None: the text says

    def run(self, model: ModelConfig, *subject: Any) -> CheckOutcome:
        d = self.declared
        return self._outcome(
            model, d.evaluate(model, *subject, self.column) if d.columns else d.evaluate(model, *subject)
        )

    def run_hours(
        self, model: ModelConfig, hours: Sequence[datetime], warehouse: Warehouse
    ) -> list[CheckOutcome]:
        """The check for each of `hours` (in one pass where the declaration has `evaluate_hours`)."""
        d = self.declared
        if d.evaluate_hours is None or d.columns or not hours:
            return [self.run(model, hour, warehouse) for hour in hours]
        verdicts = d.evaluate_hours(model, hours, warehouse)
        assert [v.hour for v in verdicts] == list(hours), f"{self.name}: one verdict per hour, in order"
        return [self._outcome(model, v) for v in verdicts]

    def _outcome(self, model: ModelConfig, v: Verdict) -> CheckOutcome:
        severity = v.severity or self.severity(model)
        return CheckOutcome(
            self.name, v.hour, v.passed, severity, v.observed, v.threshold, v.description, v.details
        )


def _critical(model: ModelConfig) -> list[str]:
    return [c.name for c in model.features if c.critical]


def _margin_text(model: ModelConfig) -> str:
    cfg, metric = labels_of(model), judged_metric(model)
    kind = "relative" if metric == "mae" else "absolute"
    return (
        f"WARN when {metric} is worse than the median of the previous {cfg.reference_hours} hours by more "
        f"than {cfg.max_drop:g} ({kind}) and by more than 3 standard errors of the hour's figure; ERROR past "
        "twice the margin."
    )


DECLARED: tuple[Declared, ...] = (
    Declared(
        "schema_matches",
        "prediction_logs",
        schema_matches,
        lambda m: (
            "the hour's stored rows have every declared column with its type. A failure stops "
            "profiles and drift for the hour."
        ),
        Severity.ERROR,
        blocking=True,
    ),
    Declared(
        "hour_is_not_empty",
        "prediction_logs",
        hour_is_not_empty,
        lambda m: (
            "the hour has at least one row (a missing or empty hour usually means the serving fleet "
            "stopped logging). A failure stops profiles and drift for the hour."
        ),
        Severity.ERROR,
        blocking=True,
    ),
    Declared(
        "volume_within_band",
        "prediction_logs",
        volume_within_band,
        lambda m: (
            f"rows within +-{m.thresholds.volume_band:.0%} of the median of the same hour over the "
            "previous 7 days."
        ),
        "volume",
    ),
    Declared(
        "logs_arrived_on_time",
        "prediction_logs",
        lambda m, hour, warehouse, now=None: logs_arrived_on_time(m, hour, now),
        lambda m: (
            f"the hour's last object landed within {m.thresholds.freshness_lag_minutes:g} minutes "
            + ("after its last arrival folder closed." if m.event_time else "after the hour ended.")
        ),
        "freshness",
    ),
    Declared(
        "timestamps_within_hour",
        "prediction_logs",
        timestamps_within_hour,
        lambda m: (
            f"at most {m.thresholds.max_outside_hour_share:.1%} of the hour's timestamps fall more than "
            f"{m.thresholds.timestamp_tolerance_minutes:g} minutes before or after the hour (a broken clock "
            "or a mis-routed file)."
        ),
        "timestamps",
    ),
    Declared(
        "records_arrived_within_delay",
        "prediction_logs",
        records_within_delay,
        lambda m: (
            "partition_by event_time: no record in the hour's own arrival folder belongs to an hour whose "
            f"arrival folders no longer reach it (max_arrival_delay_minutes {m.max_arrival_delay_minutes}: "
            f"{m.arrival_folders} folder(s) after its own) or to a later hour. Such records are in no "
            "hour's statistics: counted in hour_facts and late_arrivals, never dropped silently."
        ),
        "late_records",
        applies=lambda m: m.event_time,
    ),
    Declared(
        "data_quality_expectations_pass",
        "prediction_logs",
        data_quality,
        lambda m: (
            "the Great Expectations suite built from the config: ids present and unique, at most "
            f"{m.thresholds.max_null_share:.0%} nulls per feature, values in declared or recent ranges, "
            f"at least {m.thresholds.min_known_category_share:.0%} of categories known, valid predictions."
        ),
        "data_quality",
        after=("feature_profiles",),  # its ranges and known sets come from the previous hours' profiles
        evaluate_hours=data_quality_hours,
    ),
    Declared(
        "drift_share_below_threshold",
        "drift_metrics",
        drift_share,
        lambda m: (
            f"WARN at >= {m.thresholds.drift_share_warn:.0%} of features drifted, ERROR at >= "
            f"{m.thresholds.drift_share_error:.0%}."
        ),
        None,
    ),
    Declared(
        "{column}_not_drifted",
        "drift_metrics",
        critical_feature,
        lambda m, column: f"critical feature `{column}` has not drifted from the reference.",
        "critical_feature_drift",
        columns=_critical,
    ),
    Declared(
        "prediction_not_drifted",
        "drift_metrics",
        prediction_drift,
        lambda m: "no prediction column drifted.",
        "prediction_drift",
    ),
    Declared(
        "segments_not_drifted",
        "drift_metrics",
        segments_not_drifted,
        lambda m: (
            f"no column drifted within a segment (the {m.segment_top_k} largest values of each of "
            f"{' and '.join(m.segments)}). Segments of at least {m.thresholds.min_segment_rows} rows in the "
            "hour and in the reference are judged, the pooled rest never; false alarms are controlled "
            "across segments x columns (Benjamini-Hochberg at drift_alpha)."
        ),
        "segment_drift",
        applies=lambda m: bool(m.segments),
    ),
    Declared(
        "multivariate_drift_within_band",
        "multivariate_drift",
        multivariate_within_band,
        lambda m: (
            "the hour's mean PCA reconstruction error (how badly the reference's principal components "
            "reconstruct its rows) is inside the band of the reference hours' own errors, "
            f"+-{m.multivariate.band_sigma:g} sigma widened for the hour's rows. Above it: the features no "
            "longer move together as they did (a correlation changed), even when each one alone looks "
            "unchanged. Too few reference hours: reported, not judged."
        ),
        "multivariate_drift",
        applies=lambda m: m.multivariate_on,
    ),
    Declared(
        "performance_within_margin",
        "model_performance",
        performance_margin,
        _margin_text,
        None,
        applies=lambda m: m.labels is not None,
    ),
    Declared(
        "label_coverage_sufficient",
        "model_performance",
        label_coverage,
        lambda m: (
            f"once an hour is {labels_of(m).coverage_after_hours} h old, at least "
            f"{labels_of(m).min_coverage:.0%} of its predictions have a label."
        ),
        "label_coverage",
        applies=lambda m: m.labels is not None,
    ),
)
BLOCKING = tuple(d.name for d in DECLARED if d.blocking)


def checks_of(model: ModelConfig, asset: str | None = None) -> list[Check]:
    """The model's checks (of one asset), in declaration order."""
    out = []
    for d in DECLARED:
        if (asset is not None and d.asset != asset) or not d.applies(model):
            continue
        if d.columns is None:
            out.append(Check(d, d.name))
        else:
            out += [Check(d, d.name.format(column=c), c) for c in d.columns(model)]
    return out


def evaluate(model: ModelConfig, name: str, *subject: Any) -> CheckOutcome:
    """One check of the model by name, on one subject (an hour and the warehouse, an HourDrift, ...)."""
    for check in checks_of(model):
        if check.name == name:
            return check.run(model, *subject)
    raise KeyError(f"{model.name}: no check {name!r}; checks: {[c.name for c in checks_of(model)]}")


def expect_complete(model: ModelConfig, asset: str, outcomes: Sequence[CheckOutcome]) -> None:
    """Every hour evaluated has a result for each of the asset's declared checks, and no other one."""
    declared = {c.name for c in checks_of(model, asset)}
    by_hour: dict[datetime, set[str]] = {}
    for o in outcomes:
        by_hour.setdefault(o.hour, set()).add(o.check)
    for hour, found in by_hour.items():
        if found != declared:
            raise ValueError(
                f"{model.name}/{asset} {hour:%Y-%m-%d %H}:00: results for undeclared checks "
                f"{sorted(found - declared)}, none for declared checks {sorted(declared - found)}"
            )


def drift_checks(model: ModelConfig, drift: HourDrift) -> list[CheckOutcome]:
    """Every check of the drift_metrics asset for one hour."""
    return [c.run(model, drift) for c in checks_of(model, "drift_metrics")]


def multivariate_checks(model: ModelConfig, result: HourMultivariate) -> list[CheckOutcome]:
    """Every check of the multivariate_drift asset for one hour."""
    return [c.run(model, result) for c in checks_of(model, "multivariate_drift")]


def performance_checks(
    model: ModelConfig, perf: HourPerformance, now: datetime | None = None
) -> list[CheckOutcome]:
    """Every check of the model_performance asset for one hour."""
    return [c.run(model, perf, now) for c in checks_of(model, "model_performance")]
