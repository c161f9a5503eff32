"""Checks per (model, hour), as plain outcomes (no Dagster here).

- `registry`: every check declared once (name, asset, severity, blocking, evaluation);
- `evaluations`: what each check finds for an hour;
- `records`: the `check_history` / `check_results` rows a run records, one per check and hour.

Dagster shows each hour's result as a per-partition check evaluation (defs/asset_checks.py); the
rows here are what the alert sensor and a run's downstream steps read. Import the names from here.
"""

from __future__ import annotations

from monitoring_pipeline.checks.evaluations import (
    RECENT_HOURS,
    VOLUME_DAYS,
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
    schema_matches,
    volume_within_band,
)
from monitoring_pipeline.checks.records import failed_blocking_hours, record, run_rows
from monitoring_pipeline.checks.registry import (
    BLOCKING,
    DECLARED,
    Check,
    Declared,
    checks_of,
    drift_checks,
    evaluate,
    expect_complete,
    multivariate_checks,
    performance_checks,
)

__all__ = [
    "BLOCKING",
    "DECLARED",
    "RECENT_HOURS",
    "VOLUME_DAYS",
    "Check",
    "CheckOutcome",
    "Declared",
    "Verdict",
    "checks_of",
    "critical_feature",
    "data_quality",
    "data_quality_hours",
    "drift_checks",
    "drift_share",
    "evaluate",
    "expect_complete",
    "failed_blocking_hours",
    "hour_is_not_empty",
    "label_coverage",
    "logs_arrived_on_time",
    "multivariate_checks",
    "performance_checks",
    "performance_margin",
    "prediction_drift",
    "record",
    "run_rows",
    "schema_matches",
    "volume_within_band",
]
