"""Backfill a window of hours in a few runs on the Dagster instance (DAGSTER_HOME), in this process:
ceil(hours / hours_per_run) runs, each processing its hours with the range-aware assets. The runs,
their check evaluations and materializations show in the UI, and the alert sensor sees them.

Dagster's event stream of these runs goes to the `logger` given (the CLI's log file), not to the
console: the job's `console` logger is replaced; the instance still stores every event. A `Listener`
hears each finished step and each finished run (what the CLI's progress bars show)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import dagster as dg

from monitoring_pipeline.checks import BLOCKING, run_rows
from monitoring_pipeline.config import ModelConfig, MonitorsConfig
from monitoring_pipeline.defs.dagster_api import record_event
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.partitions import range_tags, tagged_hours
from monitoring_pipeline.defs.schedules import hourly_asset_names
from monitoring_pipeline.defs.sensors import failure_reason
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse

STEP_ENDS = {
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}
INTERRUPTED = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


@dataclass(frozen=True)
class RunOutcome:
    """One run of a backfill: its hours, the rows they hold, and each failed hour's reason."""

    model: str
    run_id: str
    hours: tuple[datetime, ...]
    success: bool
    rows: int
    seconds: float
    failed: dict[datetime, str] = field(default_factory=dict)  # hour -> first line of the reason
    interrupted: bool = False


class Listener(Protocol):
    def step_done(self, model: str, hours: float) -> None:
        """The current run's finished steps are worth `hours` of its hours (its share of steps done)."""

    def run_done(self, outcome: RunOutcome) -> None: ...


class _StepCounter(logging.Handler):
    """Hears the job logger's records and tells the listener which share of the run's steps ended."""

    def __init__(self, model: str, steps: int, hours: int, listener: Listener) -> None:
        super().__init__(logging.DEBUG)
        self.model, self.steps, self.hours, self.listener, self.done = model, steps, hours, listener, 0

    def emit(self, record: logging.LogRecord) -> None:
        event = record_event(record)
        if event is not None and event.event_type in STEP_ENDS:
            self.done += 1
            self.listener.step_done(self.model, self.hours * min(self.done / self.steps, 1.0))


def chunks(first: datetime, last: datetime, hours_per_run: int) -> list[tuple[datetime, datetime]]:
    """[first, last] (inclusive hours) cut into consecutive runs of at most hours_per_run hours."""
    out, start = [], first
    while start <= last:
        end = min(start + timedelta(hours=hours_per_run - 1), last)
        out.append((start, end))
        start = end + timedelta(hours=1)
    return out


def backfill(
    config: MonitorsConfig,
    model: ModelConfig,
    first: datetime,
    last: datetime,
    hours_per_run: int | None = None,
    instance: dg.DagsterInstance | None = None,
    logger: logging.Logger | None = None,
    listener: Listener | None = None,
) -> list[RunOutcome]:
    """Run every asset and check of `model` for the hours first..last, in runs of `hours_per_run`
    (default: the model's `max_hours_per_run`). Stops after a run that a Ctrl-C interrupted."""
    if instance is None:  # the instance's own, closed at the end (its pooled SQLite connections)
        with dg.DagsterInstance.get() as owned:
            return backfill(config, model, first, last, hours_per_run, owned, logger, listener)
    job = build_definitions(config).resolve_implicit_global_asset_job_def()
    run_config: dict = {}
    if logger is not None:
        job = job.with_logger_defs({"console": dg.LoggerDefinition(lambda _: logger)})
        run_config = {"loggers": {"console": {}}}
    warehouse = Warehouse.open(config.warehouse)
    hourly = [dg.AssetKey([model.name, name]) for name in hourly_asset_names(model)]
    steps = len(job.get_subset(asset_selection=set(hourly)).nodes_in_topological_order)
    outcomes = []
    for start, end in chunks(first, last, hours_per_run or model.max_hours_per_run):
        hours = (end - start) // timedelta(hours=1) + 1
        counter = _StepCounter(model.name, steps, hours, listener) if listener and logger else None
        if counter:
            logger.addHandler(counter)  # type: ignore[union-attr]
        started, created_after = time.monotonic(), datetime.now(UTC)
        tags = {**range_tags(start, end), "monitoring/backfill": "cli"}
        try:
            result = job.execute_in_process(
                run_config=run_config,
                asset_selection=hourly,
                tags=tags,
                instance=instance,
                raise_on_error=False,
            )
        except KeyboardInterrupt:  # between Dagster's own interrupt handling: while creating the run
            _cancel_unfinished(instance, tags, created_after)
            raise
        finally:
            if counter:
                logger.removeHandler(counter)  # type: ignore[union-attr]
        outcome = _outcome(warehouse, model.name, result, time.monotonic() - started)
        outcomes.append(outcome)
        if listener:
            listener.run_done(outcome)
        if outcome.interrupted:
            break
    return outcomes


def _outcome(
    warehouse: Warehouse, model: str, result: dg.ExecuteInProcessResult, seconds: float
) -> RunOutcome:
    hours = tagged_hours(result.dagster_run.tags)
    facts = warehouse.results.hour_rows(catalog.hour_facts, model, hours, "rows")
    interrupted = _interrupted(result.all_events)
    failed = failed_hours(warehouse, model, result, hours)
    return RunOutcome(
        model=model,
        run_id=result.run_id,
        hours=hours,
        success=result.success,
        rows=sum(r["rows"] or 0 for r in facts),
        seconds=seconds,
        failed={h: "interrupted (Ctrl-C)" for h in failed} if interrupted else failed,
        interrupted=interrupted,
    )


def failed_hours(
    warehouse: Warehouse, model: str, result: dg.ExecuteInProcessResult, hours: Sequence[datetime]
) -> dict[datetime, str]:
    """The run's hours that were not processed, each with the first line of why: a failed blocking
    check (its downstream steps skipped the hour), or, for a run that failed otherwise, the failed step's
    error (or the run's) for every other hour of the run."""
    failed: dict[datetime, str] = {}
    for row in run_rows(warehouse, model, BLOCKING, result.run_id):
        if not row["passed"]:
            text = (row["description"] or "").strip().splitlines()
            failed.setdefault(row["partition_hour"], f"{row['check_name']}: {text[0] if text else 'failed'}")
    if result.success:
        return failed
    steps = result.get_step_failure_events()
    why = failure_reason(steps, result.get_run_failure_event())
    if why is None or (why[0] is None and failed):
        return failed  # only blocking checks failed: their hours say why
    step, error = why
    reason = f"step {step}: {error}" if step else error
    return {h: failed.get(h, reason) for h in hours}


def _interrupted(events: Sequence[dg.DagsterEvent]) -> bool:
    """Whether a Ctrl-C ended the run: Dagster turns the interrupt into a failed step or run, and
    execute_in_process returns, so the caller must stop by itself."""
    for event in events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            if error.cls_name in INTERRUPTED:
                return True
            error = error.cause
    return False


def _cancel_unfinished(instance: dg.DagsterInstance, tags: dict[str, str], since: datetime) -> None:
    """Mark canceled the run a Ctrl-C left unstarted or running (so the UI shows no run forever going)."""
    unfinished = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    runs = instance.get_runs(dg.RunsFilter(tags=tags, statuses=unfinished, created_after=since))
    for run in runs:
        instance.report_run_canceled(run, message="interrupted (Ctrl-C) before its steps ran")
