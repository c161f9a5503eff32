"""Asset checks. Each evaluates every hour of the run, records one `check_results` row per hour, and
folds the hours into the one result Dagster keeps per run (metadata: observed value, threshold,
failed hours). Glue only: the evaluations are in monitoring_pipeline.checks."""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from monitoring_pipeline import checks
from monitoring_pipeline.config import ModelConfig, Severity, parse_hour
from monitoring_pipeline.resources.warehouse import WarehouseResource
from monitoring_pipeline.storage.warehouse import Warehouse


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
    severity = max((o.severity for o in failed), key=list(Severity).index, default=Severity.WARN)
    if blocking and failed and len(failed) < len(outcomes):
        severity = Severity.WARN
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
    wh: Warehouse, model: ModelConfig, asset: str, run_id: str, outcomes: Sequence[checks.CheckOutcome]
) -> list[dg.AssetCheckResult]:
    """Checks an asset evaluates itself (check_specs) over a run's hours: every hour must have a result
    for each of the asset's declared checks and no other; each check's per-hour outcomes are recorded in
    check_results, then folded into the one result Dagster keeps per check and run."""
    checks.expect_complete(model, asset, outcomes)
    by_check: dict[str, list[checks.CheckOutcome]] = {}
    for outcome in outcomes:
        by_check.setdefault(outcome.check, []).append(outcome)
    results = []
    for check in checks.checks_of(model, asset):
        found = by_check.get(check.name, [])
        if found:
            checks.record(wh, model.name, asset, check.name, run_id, found)
        results.append(fold(found, blocking=False, check_name=check.name))
    return results


def check_specs(model: ModelConfig, asset: str) -> list[dg.AssetCheckSpec]:
    """The Dagster specs of the checks an asset evaluates itself, from their declarations."""
    key = dg.AssetKey([model.name, asset])
    return [
        dg.AssetCheckSpec(c.name, asset=key, description=c.description(model))
        for c in checks.checks_of(model, asset)
    ]


def hourly_check(model: ModelConfig, check: checks.Check) -> dg.AssetChecksDefinition:
    """A check of its own step, evaluated for every hour of the run. `after`: other assets of the model
    it reads, so it runs after them in the same run."""
    after = check.declared.after

    @dg.asset_check(
        asset=dg.AssetKey([model.name, check.asset]),
        name=check.name,
        blocking=check.blocking,
        description=check.description(model),
        additional_deps=[dg.AssetKey([model.name, a]) for a in after],
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        wh = warehouse.get()
        hours = [parse_hour(key) for key in context.partition_keys]
        if after:  # it reads downstream assets, so it skips the hours they skipped (as a one-hour run would)
            blocked = checks.failed_blocking_hours(wh, model.name, context.run.run_id)
            hours = [h for h in hours if h not in blocked]
        outcomes = [check.run(model, hour, wh) for hour in hours]
        if outcomes:
            checks.record(wh, model.name, check.asset, check.name, context.run.run_id, outcomes)
        return fold(outcomes, check.blocking)

    return _check


def prediction_logs_checks(model: ModelConfig) -> list[dg.AssetChecksDefinition]:
    return [hourly_check(model, c) for c in checks.checks_of(model, "prediction_logs")]
