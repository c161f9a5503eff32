"""The alert sensor: one for all models. Sinks are shared between models, so a per-sink rate limit and
retry queue can only be kept in one place; a tick still groups alerts per model and sink.
Glue only: the state machine and deliveries are in monitoring_pipeline.alerts."""

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import dagster as dg

from monitoring_pipeline.alerts import dispatch, engine
from monitoring_pipeline.alerts.sinks import redact, secret_names
from monitoring_pipeline.config import MonitorsConfig, parse_hour
from monitoring_pipeline.defs.dagster_api import DONE, PLANNED, check_executions
from monitoring_pipeline.defs.partitions import tagged_hours
from monitoring_pipeline.defs.resources.warehouse import WarehouseResource

PAGE = 100
ABANDONED_AFTER_SECONDS = 6 * 3600
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


class Runs:
    """Which runs are still going, asked once per run in a tick (every check of a run's model has
    planned evaluations while it runs)."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self.known: dict[str, bool] = {}  # run id -> still going

    def going(self, run_ids: set[str]) -> set[str]:
        unknown = sorted(run_ids - self.known.keys())
        if unknown:
            records = self.instance.get_run_records(dg.RunsFilter(run_ids=unknown))
            status = {r.dagster_run.run_id: r.dagster_run.status not in FINISHED for r in records}
            self.known |= {run_id: status.get(run_id, False) for run_id in unknown}  # deleted: not going
        return {run_id for run_id in run_ids if self.known[run_id]}


def new_evaluations(instance: dg.DagsterInstance, key: dg.AssetCheckKey, cursor: dict, runs: Runs) -> list:
    """Completed evaluations of `key` not processed yet, oldest first: one per hour (partition) of a run.
    The cursor keeps the highest id below which everything is done, plus the ids above it already
    handled (runs can finish out of order: an evaluation planned earlier may complete after a later
    one). A planned evaluation is waited on only while its run is going: an hour skipped in a finished
    run stays planned, and so does one of a run that died (given up after ABANDONED_AFTER_SECONDS)."""
    floor, handled = cursor.get("floor", 0), set(cursor.get("handled", []))
    records, before = [], None
    while True:
        page = check_executions(instance, key, PAGE, before)
        records += [r for r in page if r.id > floor]
        if len(page) < PAGE or page[-1].id <= floor:
            break
        before = page[-1].id
    new = sorted((r for r in records if r.status in DONE and r.id not in handled), key=lambda r: r.id)
    stale = time.time() - ABANDONED_AFTER_SECONDS
    planned = [r for r in records if r.status == PLANNED and r.create_timestamp > stale]
    going = runs.going({r.run_id for r in planned})
    in_flight = [r.id for r in planned if r.run_id in going]
    handled |= {r.id for r in new}
    top = max([floor, *handled])
    cursor["floor"] = min(in_flight) - 1 if in_flight else top
    cursor["handled"] = sorted(i for i in handled if i > cursor["floor"])
    return new


def evaluated_hours(records: Sequence) -> dict[tuple[str, str], set[datetime] | None]:
    """Per (check key, run): the hours its new evaluations cover, in the order they were first seen;
    None for an evaluation with no partition (all the hours of its run, as recorded before checks
    were partitioned)."""
    found: dict[tuple[str, str], set[datetime] | None] = {}
    for key, r in sorted(records, key=lambda kr: kr[1].id):
        hours = found.setdefault((key, r.run_id), set())
        if hours is None or r.partition is None:
            found[(key, r.run_id)] = None
        else:
            hours.add(parse_hour(r.partition))
    return found


def alerts_sensor(config: MonitorsConfig, check_keys: Sequence[dg.AssetCheckKey]) -> dg.SensorDefinition:
    @dg.sensor(
        name="check_failure_alerts",
        minimum_interval_seconds=int(config.alerting.interval_seconds),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Turns failed asset checks into alerts: one per model, check and hour, a recovery notice when it "
            "passes again; grouped per model and sink each tick, older hours summarised, rate-limited and "
            f"retried with backoff. Always written to {config.alerting.log_path}."
        ),
    )
    def check_failure_alerts(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SkipReason:
        state = engine.State.from_json(context.cursor)
        wh = warehouse.get()
        found = []
        by_name = {key.to_user_string(): key for key in check_keys}
        runs = Runs(context.instance)
        for name, key in by_name.items():
            cursor = state.checks.setdefault(name, {})
            found += [(name, r) for r in new_evaluations(context.instance, key, cursor, runs)]
        outcomes = []
        for (name, run_id), hours in evaluated_hours(found).items():
            key = by_name[name]
            outcomes += dispatch.outcomes_of_run(wh, key.asset_key.path[0], key.name, run_id, hours)
        report = dispatch.tick(state, outcomes, config, wh)
        context.update_cursor(state.to_json())
        return dg.SkipReason(
            f"{len(found)} evaluation(s) read, {report.alerts} new alert(s), {report.delivered} message(s) "
            f"delivered, {report.failed} failed, {report.pending} pending"
        )

    return check_failure_alerts


def run_models(run: dg.DagsterRun, config: MonitorsConfig, job_models: Mapping[str, str]) -> list[str]:
    """The models whose assets or checks the run selected, or whose job it ran; for one of our other
    jobs (retention), its name: an alert under it goes to the log only, as no route names it. None for
    a run that is not ours (another code location's, on a shared instance)."""
    names = {m.name for m in config.models}
    keys = [*(run.asset_selection or ()), *(c.asset_key for c in run.asset_check_selection or ())]
    found = sorted({k.path[0] for k in keys} & names)
    if not found and run.job_name in job_models:
        found = [job_models[run.job_name] or run.job_name]
    return found


def first_line(error: object | None, limit: int = 300) -> str:
    """The first line of the first error that is not Dagster's wrapper (the IngestError, not the
    DagsterExecutionStepExecutionError around it, nor DuckDB's error beneath), without its module path."""
    while getattr(error, "cause", None) is not None and getattr(error, "cls_name", "").startswith("Dagster"):
        error = error.cause  # type: ignore[union-attr]
    message = (getattr(error, "message", None) or "").strip().splitlines()  # an error or an event
    line = message[0] if message else "no error message"
    head, sep, rest = line.partition(": ")
    if sep and "." in head and " " not in head:
        line = f"{head.rsplit('.', 1)[1]}: {rest}"
    return line[:limit]


def run_failure_sensor(config: MonitorsConfig, job_models: Mapping[str, str]) -> dg.SensorDefinition:
    secrets = secret_names(config.alerting.sinks)

    # every run of the instance: runs of the CLI's backfills (in process) have no code location
    @dg.run_failure_sensor(
        monitor_all_code_locations=True,
        name="run_failure_alerts",
        minimum_interval_seconds=int(config.alerting.interval_seconds),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Turns a failed run into one alert per model and run, naming the failed step and the first line "
            "of its error (a run failed only by a blocking check is left to that check's alert). A run whose "
            "worker died is marked failed by run monitoring and alerted the same way. Queued in the outbox "
            "and delivered by check_failure_alerts, grouped and rate-limited like check alerts."
        ),
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
        run = context.dagster_run
        why = failure_reason(context.get_step_failure_events(), context.failure_event)
        if why is None:
            return  # only blocking checks failed: each has its own alert
        step, error = why
        now = datetime.now(UTC)
        for model in run_models(run, config, job_models):
            failure = engine.RunFailure(
                model, run.run_id, run.job_name, step, redact(error, secrets), tagged_hours(run.tags), now
            )
            dispatch.run_failed(config, warehouse.get().results, failure, now)

    return run_failure_alerts


def run_recovery_sensor(config: MonitorsConfig, job_models: Mapping[str, str]) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        monitor_all_code_locations=True,
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="run_recovery_alerts",
        minimum_interval_seconds=int(config.alerting.interval_seconds),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "When a model's run succeeds, closes the hours it covered in the model's failed runs; a failed "
            "run whose hours have all succeeded since gets one recovery notice."
        ),
    )
    def run_recovery_alerts(context: dg.RunStatusSensorContext, warehouse: WarehouseResource) -> None:
        run, now = context.dagster_run, datetime.now(UTC)
        hours = tagged_hours(run.tags)
        if hours:
            for model in run_models(run, config, job_models):
                dispatch.run_succeeded(config, warehouse.get().results, model, run.run_id, hours, now)

    return run_recovery_alerts


CHECK_FAILED = "DagsterAssetCheckFailedError"


def error_class(event: dg.DagsterEvent) -> str | None:
    error = event.step_failure_data.error
    return error.cls_name if error is not None else None


def failure_reason(
    step_failures: Sequence[dg.DagsterEvent], run_failure: dg.DagsterEvent
) -> tuple[str | None, str] | None:
    """Why a run failed, as (step, first line of the error): its first failed step that is not a blocking
    check; with no failed step, the run itself (its worker died, it could not start, ...: step None).
    None when only blocking checks failed (each check's own result says why)."""
    real = [e for e in step_failures if error_class(e) != CHECK_FAILED]
    if real:
        return real[0].step_key, first_line(real[0].step_failure_data.error)
    if step_failures:
        return None
    data = run_failure.event_specific_data
    return None, first_line(data.error if getattr(data, "error", None) else run_failure)


def prometheus_sensor(config: MonitorsConfig) -> dg.SensorDefinition:
    @dg.sensor(
        name="prometheus_textfile",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Every minute, rewrites the latest figures per model (drift share, per-feature drift scores, "
            "check status, rows, freshness, label coverage, performance) in the Prometheus text format at "
            f"{config.prometheus_textfile}, for node_exporter's textfile collector. Launches no run."
        ),
    )
    def prometheus_textfile(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SkipReason:
        from monitoring_pipeline.publish.prometheus import collect, render, write_textfile

        assert config.prometheus_textfile is not None
        samples = collect(config, warehouse.get())
        write_textfile(config.prometheus_textfile, render(samples))
        return dg.SkipReason(f"{len(samples)} sample(s) written to {config.prometheus_textfile}")

    return prometheus_textfile
