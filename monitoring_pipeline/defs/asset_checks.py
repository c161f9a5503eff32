"""Asset checks, per hour. Each check evaluates every hour of the run, records one `check_results` row
per hour, and gives Dagster one evaluation per hour against that hour's partition, so the UI shows each
check's failed hours, also inside a run of many hours. Glue only: the evaluations are in
monitoring_pipeline.checks."""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from monitoring_pipeline import checks
from monitoring_pipeline.config import ModelConfig, parse_hour
from monitoring_pipeline.defs import dagster_api
from monitoring_pipeline.defs.partitions import KEY_FORMAT, hourly_partitions
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource
from monitoring_pipeline.storage.warehouse import Warehouse

Event = dg.AssetCheckEvaluation | dg.Output
AnyContext = dg.AssetExecutionContext | dg.AssetCheckExecutionContext
BAND_EDGES = ("lower_threshold", "upper_threshold")


def check_key(model: ModelConfig, check: checks.Check) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey([model.name, check.asset]), check.name)


def targets_of(
    context: AnyContext, model: ModelConfig, asset: str, outcomes: Sequence[checks.CheckOutcome]
) -> dict[str, Any]:
    """The latest materialization of each hour the outcomes cover: what their evaluations point at."""
    partitions = sorted({f"{o.hour:{KEY_FORMAT}}" for o in outcomes})
    return dagster_api.latest_materializations(context.instance, dg.AssetKey([model.name, asset]), partitions)


def hour_events(
    context: AnyContext,
    model: ModelConfig,
    check: checks.Check,
    outcomes: Sequence[checks.CheckOutcome],
    targets: Mapping[str, Any],
) -> Iterator[Event]:
    """One evaluation per hour (against `targets`, see targets_of), then the check's step output. A
    blocking check stops the run's downstream steps only when it failed on every hour of the run; when
    only some hours failed, the run goes on and downstream assets skip exactly those hours (read from
    check_results), so those hours' evaluations are not blocking, though each keeps its severity."""
    key = check_key(model, check)
    partitions = [f"{o.hour:{KEY_FORMAT}}" for o in outcomes]
    stops = check.blocking and bool(outcomes) and not any(o.passed for o in outcomes)
    for partition, o in zip(partitions, outcomes, strict=True):
        metadata: dict[str, Any] = {
            "observed": dg.MetadataValue.float(float(o.observed)) if o.observed is not None else "none",
            "threshold": dg.MetadataValue.float(float(o.threshold)) if o.threshold is not None else "none",
        }
        for bound in BAND_EDGES:  # a check judged against a band shows both of its edges
            if o.details.get(bound) is not None:
                metadata[bound] = dg.MetadataValue.float(float(o.details[bound]))
        yield dagster_api.partition_evaluation(
            key,
            partition,
            targets,
            passed=o.passed,
            severity=dg.AssetCheckSeverity(o.severity),
            blocking=stops,
            metadata=metadata,
            description=o.description,
        )
    yield dagster_api.check_output(context, key)


def record_and_evaluate(
    context: dg.AssetExecutionContext,
    wh: Warehouse,
    model: ModelConfig,
    asset: str,
    outcomes: Sequence[checks.CheckOutcome],
) -> Iterator[Event]:
    """Checks an asset evaluates itself (check_specs) over a run's hours: every hour must have a result
    for each of the asset's declared checks and no other; each check's per-hour outcomes are recorded in
    check_results, then given to Dagster hour by hour. Yield the asset's MaterializeResult first: an
    evaluation points at its hour's materialization."""
    checks.expect_complete(model, asset, outcomes)
    by_check: dict[str, list[checks.CheckOutcome]] = {}
    for outcome in outcomes:
        by_check.setdefault(outcome.check, []).append(outcome)
    declared = checks.checks_of(model, asset)
    for check in declared:  # recorded before Dagster hears of any: the alert sensor reads these rows
        if by_check.get(check.name):
            checks.record(wh, model.name, asset, check.name, context.run.run_id, by_check[check.name])
    targets = targets_of(context, model, asset, outcomes)  # once for all the asset's checks
    for check in declared:
        yield from hour_events(context, model, check, by_check.get(check.name, []), targets)


def check_specs(model: ModelConfig, asset: str) -> list[dg.AssetCheckSpec]:
    """The Dagster specs of the checks an asset evaluates itself, from their declarations."""
    key = dg.AssetKey([model.name, asset])
    return [
        dg.AssetCheckSpec(
            c.name, asset=key, description=c.description(model), partitions_def=hourly_partitions(model)
        )
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
        partitions_def=hourly_partitions(model),
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[Event]:
        wh = warehouse.get()
        hours = [parse_hour(key) for key in context.partition_keys]
        if after:  # it reads downstream assets, so it skips the hours they skipped (as a one-hour run would)
            blocked = checks.failed_blocking_hours(wh, model.name, context.run.run_id)
            hours = [h for h in hours if h not in blocked]
        outcomes = check.run_hours(model, hours, wh)
        if outcomes:  # recorded before Dagster hears of any: the alert sensor reads these rows
            checks.record(wh, model.name, check.asset, check.name, context.run.run_id, outcomes)
        yield from hour_events(
            context, model, check, outcomes, targets_of(context, model, check.asset, outcomes)
        )

    return _check


def prediction_logs_checks(model: ModelConfig) -> list[dg.AssetChecksDefinition]:
    return [hourly_check(model, c) for c in checks.checks_of(model, "prediction_logs")]
