"""Schedules evaluated at chosen instants, the late-file sensor ticked against a real instance, and a
range run producing exactly the per-hour results of hour-by-hour runs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from monitoring_pipeline.config import REPO_ROOT, MonitorsConfig, load_config
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.schedules import due_hour
from monitoring_pipeline_tests.conftest import HOURS, write_config
from monitoring_pipeline_tests.helpers import key, query, replace, run_pipeline

FRAUD = "fraud_classifier"


def ticker(
    defs: dg.Definitions, name: str, instance: dg.DagsterInstance
) -> Callable[[], list[dg.RunRequest]]:
    """Evaluate the sensor `name` against `instance`, as the daemon would, returning its run requests."""
    sensor = defs.resolve_sensor_def(name)

    def tick() -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            instance=instance, repository_def=defs.get_repository_def(), resources=dict(defs.resources or {})
        )
        return sensor.evaluate_tick(context).run_requests

    return tick


def evaluate(config: MonitorsConfig, at: datetime) -> dg.RunRequest | dg.SkipReason:
    schedule = build_definitions(config).resolve_schedule_def(f"{FRAUD}_hourly_schedule")
    result = schedule(dg.build_schedule_context(scheduled_execution_time=at))
    return result.skip_message if isinstance(result, dg.SkipReason) else result


@pytest.mark.parametrize(
    ("lag", "at", "expected"),
    [
        (30, "2026-11-24T10:30", "2026-11-24-09:00"),  # 09:00-10:00 ended 30 min ago
        (30, "2026-11-24T10:29", "2026-11-24-08:00"),  # 09:00's logs are not due yet
        (90, "2026-11-24T11:30", "2026-11-24-09:00"),
        (0, "2026-11-24T00:00", "2026-11-23-23:00"),  # across midnight
    ],
)
def test_schedule_requests_the_due_hour(config: MonitorsConfig, lag: int, at: str, expected: str) -> None:
    config = replace(config, models=tuple(replace(m, schedule_lag_minutes=lag) for m in config.models))
    request = evaluate(config, datetime.fromisoformat(at).replace(tzinfo=UTC))
    assert request.partition_key == expected and request.run_key == f"{FRAUD}:{expected}"
    again = evaluate(config, datetime.fromisoformat(at).replace(tzinfo=UTC))
    assert again.run_key == request.run_key  # a re-evaluated tick asks for the same run: no duplicate


def test_schedule_cron_and_start(config: MonitorsConfig) -> None:
    schedule = build_definitions(config).resolve_schedule_def(f"{FRAUD}_hourly_schedule")
    assert schedule.cron_schedule == "30 * * * *" and schedule.execution_timezone == "UTC"
    assert "before the first partition" in evaluate(config, datetime(2026, 10, 1, 5, 30, tzinfo=UTC))
    assert due_hour(config.model(FRAUD), datetime(2026, 11, 24, 10, 45, tzinfo=UTC)).hour == 9


def test_late_files_rematerialize_an_hour_exactly_once(tmp_path: Path, demo_logs: Path) -> None:
    hour = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    target = tmp_path / "logs" / FRAUD / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    source = demo_logs / FRAUD / f"dt={HOURS[5]:%Y-%m-%d}" / f"hour={HOURS[5]:%H}"
    shutil.copytree(source, target)
    landed = (hour + timedelta(minutes=65)).timestamp()
    for f in target.iterdir():
        os.utime(f, (landed, landed))
    config = load_config(write_config(tmp_path, str(tmp_path / "logs")))
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(config)
    tick = ticker(defs, f"{FRAUD}_late_files", instance)

    assert tick() == []  # not processed yet: that is the schedule's job
    run_pipeline(config, FRAUD, hour, hour, instance=instance)
    assert tick() == []  # processed after its objects landed
    (target / "replica-9.parquet").write_bytes((target / "replica-0.parquet").read_bytes())  # a late object
    [request] = tick()
    assert request.partition_key == key(hour) and request.run_key.startswith(
        f"late:{FRAUD}:prediction_logs:{key(hour)}:"
    )
    assert [r.run_key for r in tick()] == [request.run_key]  # same run key until it has run: deduplicated
    run_pipeline(config, FRAUD, hour, hour, instance=instance)
    assert tick() == []  # re-materialized: done


def test_late_labels_load_an_arrival_hour_the_hourly_run_skipped(tmp_path: Path, demo_logs: Path) -> None:
    """An hour whose logs are missing fails a blocking check, so its run skips the labels that arrived
    during it; the late-labels sensor loads them, once."""
    hour = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    labels_root = tmp_path / "labels"
    source = demo_logs.parent / "labels" / FRAUD / f"dt={HOURS[50]:%Y-%m-%d}" / f"hour={HOURS[50]:%H}"
    shutil.copytree(source, labels_root / FRAUD / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}")
    config = load_config(write_config(tmp_path, str(tmp_path / "logs")))  # no logs at all for the hour
    config = replace(
        config,
        models=tuple(
            replace(m, labels=replace(m.labels, location=str(labels_root))) if m.labels else m
            for m in config.models
        ),
    )
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(config)
    tick = ticker(defs, f"{FRAUD}_late_labels", instance)

    run_pipeline(config, FRAUD, hour, hour, instance=instance)  # the hourly run: blocked, labels skipped
    blocked = query(config, "SELECT passed FROM main.check_results WHERE check_name = 'hour_is_not_empty'")
    assert blocked == [(False,)]
    assert not list(Path(config.warehouse.tables_root).glob("labels/**/*.parquet"))
    [request] = tick()
    assert request.partition_key == key(hour) and request.job_name in (None, f"{FRAUD}_labels")
    assert [r.run_key for r in tick()] == [request.run_key]  # the same request until it has run
    job = defs.resolve_job_def(f"{FRAUD}_labels")
    assert job.execute_in_process(partition_key=key(hour), instance=instance).success
    assert tick() == []
    [(rows,)] = query(config, "SELECT count(*) FROM main.labels WHERE arrival_hour = ?", [hour])
    assert rows == sum(pq.ParquetFile(f).metadata.num_rows for f in source.glob("*.parquet"))


TABLES = {
    "feature_profiles": "SELECT * EXCLUDE (computed_at) FROM main.feature_profiles ORDER BY 2, feature",
    "drift_metrics": "SELECT * EXCLUDE (computed_at) FROM main.drift_metrics ORDER BY 2, feature",
    # Performance is left out of the comparison on purpose: it reflects the labels known when it is computed,
    # and a range run loads the labels of all its hours before computing any hour's performance (the
    # label-updates sensor brings hour-by-hour results to the same figures as the labels land).
    "check_results": "SELECT check_name, partition_hour, passed, severity, observed, threshold, description "
    "FROM main.check_results WHERE asset <> 'model_performance' ORDER BY check_name, partition_hour",
    # labels that arrived during a blocked hour (empty or missing logs) are skipped by a one-hour run and
    # loaded by the late-labels sensor (tested below); a range run loads them directly
    "labels": "SELECT * EXCLUDE (source_object) FROM main.labels WHERE arrival_hour NOT IN (SELECT "
    "partition_hour FROM main.check_results WHERE asset = 'prediction_logs' AND NOT passed "
    "AND check_name IN ('hour_is_not_empty', 'schema_matches')) ORDER BY arrival_hour, prediction_id",
    "performance hours": "SELECT partition_hour, predictions FROM main.model_performance ORDER BY 1",
}


def test_a_range_run_gives_the_per_hour_results_of_hour_by_hour_runs(tmp_path: Path, demo_logs: Path) -> None:
    together = load_config(
        write_config(tmp_path / "a", str(demo_logs)) if (tmp_path / "a").mkdir() is None else None
    )
    one_by_one = load_config(
        write_config(tmp_path / "b", str(demo_logs)) if (tmp_path / "b").mkdir() is None else None
    )
    run_pipeline(together, FRAUD, HOURS[26], HOURS[33])  # includes the empty and the missing hour
    for i in range(26, 34):
        run_pipeline(one_by_one, FRAUD, HOURS[i], HOURS[i])
    for table, sql in TABLES.items():
        a, b = query(together, sql), query(one_by_one, sql)
        assert a == b and len(a) > 0, table


def test_run_queue_keeps_a_slot_for_scheduled_runs() -> None:
    coordinator = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["max_concurrent_runs"] == 2
    assert coordinator["config"]["tag_concurrency_limits"] == [{"key": "dagster/backfill", "limit": 1}]
