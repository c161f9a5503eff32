"""Dagster's default run launcher, plus a health check of its run workers, so that run monitoring
(dagster.yaml: run_monitoring) marks a run failed when its worker process died (killed, out of memory,
the machine rebooted) instead of leaving it STARTED forever; the run-failure sensor then alerts.

The default launcher starts each run worker as a process on the code server's machine, which is this
deployment's only machine (`make run`); the worker's pid is in the run's "Started process" event.
"""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher

from monitoring_pipeline.defs.dagster_api import CheckRunHealthResult, WorkerStatus

STARTED = "Started process for run"


def process_alive(pid: int) -> bool:
    """Whether the process runs (a zombie, killed but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class MonitoredRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        # the run's own engine events only, newest first (a resumed run has started more than one worker)
        found = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ENGINE_EVENT, ascending=False
        )
        for record in found.records:
            entry = record.event_log_entry
            if entry.dagster_event and (entry.dagster_event.message or "").startswith(STARTED):
                pid_text = entry.dagster_event.engine_event_data.metadata.get("pid")
                if pid_text is None:
                    break
                pid = int(pid_text.value)
                if process_alive(pid):
                    return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
                return CheckRunHealthResult(
                    WorkerStatus.FAILED, f"the run worker process {pid} is gone", run_worker_id=str(pid)
                )
        # no process recorded (a run launched some other way): nothing to judge it by, so never fail it
        return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker process recorded")
