"""Asset checks. Each evaluates every hour of the run, records one `check_results` row per hour, and
folds the hours into the one result Dagster keeps per run (metadata: observed value, threshold,
failed hours). Glue only: the evaluations are in monitoring_pipeline.checks."""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from monitoring_pipeline import checks
from monitoring_pipeline.config import ModelConfig, parse_hour
from monitoring_pipeline.resources.warehouse import WarehouseResource
from monitoring_pipeline.storage.warehouse import Warehouse

Evaluate = Callable[[datetime, Warehouse], checks.CheckOutcome]


def fold(
    outcomes: Sequence[checks.CheckOutcome], blocking: bool, check_name: str | None = None
) -> dg.AssetCheckResult:
    """One Dagster result for the run's hours. A blocking check that fails on only some hours of a
    multi-hour run is reported as WARN, so the run goes on: downstream assets skip exactly the
    failed hours (read from check_results) and process the others."""
    if not outcomes:
        return dg.AssetCheckResult(
            check_name=check_name,
            passed=True,
            metadata={"hours_evaluated": 0},
            description="no hour to evaluate (all blocked upstream)",
        )
    failed = [o for o in outcomes if not o.passed]
    shown = failed[-1] if failed else outcomes[-1]
    severity = max((o.severity for o in failed), key=["WARN", "ERROR"].index, default="WARN")
    if blocking and failed and len(failed) < len(outcomes):
        severity = "WARN"
    metadata: dict[str, Any] = {
        "observed": dg.MetadataValue.float(float(shown.observed)) if shown.observed is not None else "none",
        "threshold": dg.MetadataValue.float(float(shown.threshold))
        if shown.threshold is not None
        else "none",
        "hours_evaluated": len(outcomes),
        "hours_failed": len(failed),
        "summary": shown.description,
    }
    if failed:
        metadata["failed_hours"] = dg.MetadataValue.json([f"{o.hour:%Y-%m-%d-%H:00}" for o in failed][:200])
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not failed,
        severity=dg.AssetCheckSeverity(severity),
        metadata=metadata,
        description=shown.description,
    )


def record_and_fold(
    wh: Warehouse,
    model: str,
    asset: str,
    run_id: str,
    names: Sequence[str],
    outcomes: Iterable[checks.CheckOutcome],
) -> list[dg.AssetCheckResult]:
    """Checks an asset evaluates itself (check_specs) over a run's hours: each check's per-hour outcomes
    recorded in check_results, then folded into the one result Dagster keeps per check and run."""
    by_check: dict[str, list[checks.CheckOutcome]] = {}
    for outcome in outcomes:
        by_check.setdefault(outcome.check, []).append(outcome)
    results = []
    for name in names:
        found = by_check.get(name, [])
        if found:
            checks.record(wh, model, asset, name, run_id, found)
        results.append(fold(found, blocking=False, check_name=name))
    return results


def hourly_check(
    model: ModelConfig,
    asset: str,
    name: str,
    evaluate: Evaluate,
    description: str,
    blocking: bool = False,
    after: Sequence[str] = (),
) -> dg.AssetChecksDefinition:
    """`after`: other assets of the model the check reads, so it runs after them in the same run."""

    @dg.asset_check(
        asset=dg.AssetKey([model.name, asset]),
        name=name,
        blocking=blocking,
        description=description,
        additional_deps=[dg.AssetKey([model.name, a]) for a in after],
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        wh = warehouse.get()
        hours = [parse_hour(key) for key in context.partition_keys]
        if after:  # it reads downstream assets, so it skips the hours they skipped (as a one-hour run would)
            blocked = checks.failed_blocking_hours(wh, model.name, context.run.run_id)
            hours = [h for h in hours if h not in blocked]
        outcomes = [evaluate(hour, wh) for hour in hours]
        if outcomes:
            checks.record(wh, model.name, asset, name, context.run.run_id, outcomes)
        return fold(outcomes, blocking)

    return _check


def prediction_logs_checks(model: ModelConfig) -> list[dg.AssetChecksDefinition]:
    t, sev = model.thresholds, model.severities
    return [
        hourly_check(
            model,
            "prediction_logs",
            "schema_matches",
            lambda h, wh: checks.schema_matches(model, h, wh),
            "Blocking: the hour's stored rows have every declared column with its type. A failure stops "
            "profiles and drift for the hour.",
            blocking=True,
        ),
        hourly_check(
            model,
            "prediction_logs",
            "hour_is_not_empty",
            lambda h, wh: checks.hour_is_not_empty(model, h, wh),
            "Blocking: the hour has at least one row (a missing or empty hour usually means the serving "
            "fleet stopped logging). A failure stops profiles and drift for the hour.",
            blocking=True,
        ),
        hourly_check(
            model,
            "prediction_logs",
            "volume_within_band",
            lambda h, wh: checks.volume_within_band(model, h, wh),
            f"{sev.volume}: rows within +-{t.volume_band:.0%} of the median of the same hour over "
            "the previous 7 days.",
        ),
        hourly_check(
            model,
            "prediction_logs",
            "logs_arrived_on_time",
            lambda h, _: checks.logs_arrived_on_time(model, h),
            f"{sev.freshness}: the hour's last object landed within {t.freshness_lag_minutes:g} "
            "minutes after the hour ended.",
        ),
        hourly_check(
            model,
            "prediction_logs",
            "data_quality_expectations_pass",
            lambda h, wh: checks.data_quality(model, h, wh),
            f"{sev.data_quality}: the Great Expectations suite built from the config: ids present and "
            f"unique, at most {t.max_null_share:.0%} nulls per feature, values in declared or recent "
            f"ranges, at least {t.min_known_category_share:.0%} of categories known, valid predictions.",
            after=["feature_profiles"],  # its ranges and known sets come from the previous hours' profiles
        ),
    ]


def drift_check_specs(model: ModelConfig) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey([model.name, "drift_metrics"])
    t = model.thresholds
    specs = [
        dg.AssetCheckSpec(
            "drift_share_below_threshold",
            asset=key,
            description=f"WARN at >= {t.drift_share_warn:.0%} of features drifted, "
            f"ERROR at >= {t.drift_share_error:.0%}.",
        )
    ]
    specs += [
        dg.AssetCheckSpec(
            f"{c.name}_not_drifted",
            asset=key,
            description=f"{model.severities.critical_feature_drift}: critical feature `{c.name}` "
            "has not drifted from the reference.",
        )
        for c in model.features
        if c.critical
    ]
    specs.append(
        dg.AssetCheckSpec(
            "prediction_not_drifted",
            asset=key,
            description=f"{model.severities.prediction_drift}: no prediction column drifted.",
        )
    )
    return specs
