"""The one wrapper around Dagster's non-public API (defs/dagster_api.py), on real instances: it fails when
Dagster renames or reshapes the asset-check execution records, stops counting per-partition evaluations
as each partition's status, or changes its SQLite storage under our pooled connections."""

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from monitoring_pipeline.config import REPO_ROOT
from monitoring_pipeline.defs.dagster_api import (
    DONE,
    PLANNED,
    PooledSqliteEventLogStorage,
    check_executions,
    check_output,
    latest_materializations,
    partition_evaluation,
    record_event,
)


def test_check_execution_records_keep_their_shape() -> None:
    @dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
    def numbers() -> dg.MaterializeResult:
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="positive", passed=False)])

    instance = dg.DagsterInstance.ephemeral()
    key = dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")
    runs = [dg.materialize([numbers], instance=instance, raise_on_error=False) for _ in range(3)]
    records = check_executions(instance, key, limit=2)
    assert [r.run_id for r in records] == [runs[2].run_id, runs[1].run_id]  # newest first, limited
    assert all(r.status in DONE and r.status != PLANNED and r.create_timestamp > 0 for r in records)
    assert records[0].status.value == "FAILED"
    older = check_executions(instance, key, limit=10, before=records[-1].id)
    assert [r.run_id for r in older] == [runs[0].run_id]


def test_per_partition_evaluations_are_each_partitions_current_status() -> None:
    """A range run's check evaluations, one per partition against its materialization, are what
    Dagster's own check state (what the UI reads) counts as each partition's current status."""
    parts = dg.HourlyPartitionsDefinition(start_date="2026-01-01-00:00", timezone="UTC")
    asset = dg.AssetKey(["m", "numbers"])
    key = dg.AssetCheckKey(asset, "positive")
    failing = "2026-01-01-01:00"

    @dg.asset(
        key=asset,
        partitions_def=parts,
        backfill_policy=dg.BackfillPolicy.multi_run(24),
        check_specs=[dg.AssetCheckSpec("positive", asset=asset, partitions_def=parts)],
    )
    def numbers(context: dg.AssetExecutionContext) -> Iterator[Any]:
        yield dg.MaterializeResult()
        targets = latest_materializations(context.instance, asset, context.partition_keys)
        assert sorted(targets) == sorted(context.partition_keys)
        for partition in context.partition_keys:
            yield partition_evaluation(
                key,
                partition,
                targets,
                passed=partition != failing,
                severity=dg.AssetCheckSeverity.ERROR,
                blocking=False,
                metadata={"observed": 1.0},
                description=partition,
            )
        yield check_output(context, key)

    instance = dg.DagsterInstance.ephemeral()
    job = dg.Definitions(assets=[numbers], jobs=[dg.define_asset_job("j")]).resolve_job_def("j")
    tags = {
        "dagster/asset_partition_range_start": "2026-01-01-00:00",
        "dagster/asset_partition_range_end": "2026-01-01-02:00",
    }
    for _ in range(2):  # the second run re-materializes: its evaluations point at the new materializations
        result = job.execute_in_process(instance=instance, tags=tags)
        assert result.success  # a failed hour that is not blocking leaves the run going
    infos = {i.partition_key: i for i in instance.event_log_storage.get_asset_check_partition_info([key])}
    assert sorted(infos) == ["2026-01-01-00:00", failing, "2026-01-01-02:00"]
    assert all(i.is_current for i in infos.values())
    assert {p: i.latest_execution_status.value for p, i in infos.items()}[failing] == "FAILED"
    assert sum(i.latest_execution_status in DONE for i in infos.values()) == 3
    records = check_executions(instance, key, limit=10)
    assert len(records) == 6 and {r.partition for r in records} == set(infos)
    assert {r.run_id for r in records[:3]} == {result.run_id}


def test_a_job_loggers_records_carry_their_events() -> None:
    """What the CLI's backfill counts steps by: each record a job's logger gets names its event."""
    seen: list[dg.DagsterEventType] = []

    class Events(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            event = record_event(record)
            if event is not None:
                seen.append(event.event_type)

    logger = logging.Logger("events", logging.DEBUG)
    logger.addHandler(Events())

    @dg.asset
    def one() -> int:
        return 1

    job = (
        dg.Definitions(assets=[one])
        .resolve_implicit_global_asset_job_def()
        .with_logger_defs({"console": dg.LoggerDefinition(lambda _: logger)})
    )
    result = job.execute_in_process(
        run_config={"loggers": {"console": {}}}, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    assert dg.DagsterEventType.STEP_SUCCESS in seen and dg.DagsterEventType.RUN_SUCCESS in seen


def instance_at(home: Path) -> dg.DagsterInstance:
    """An instance configured by the repository's dagster.yaml, as `make run` sets one up."""
    home.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        return dg.DagsterInstance.get()


def test_the_pooled_sqlite_storage_keeps_dagsters_files_and_events(tmp_path: Path) -> None:
    """dagster.yaml's instance stores in Dagster's SQLite storage with pooled connections: the same files
    in the instance's folder as Dagster's default, every event of a run readable by another process
    (Dagster's own storage class), asset records across runs, and the instance re-opened from its folder
    (DAGSTER_HOME pointing elsewhere) sees them all."""

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
    def letters(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"key": context.partition_key})

    instance = instance_at(tmp_path / "home")
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    runs = [dg.materialize([letters], partition_key=p, instance=instance).run_id for p in "ab"]
    assert (tmp_path / "home" / "history" / "runs" / "index.db").exists()
    assert all((tmp_path / "home" / "history" / "runs" / f"{r}.db").exists() for r in runs)
    counts = [len(instance.all_logs(r)) for r in runs]
    script = (
        "import sys; from dagster._core.storage.event_log import SqliteEventLogStorage as S; "
        "s = S(sys.argv[1]); print([len(s.get_logs_for_run(r)) for r in sys.argv[2:]]); "
        "print(s.get_latest_materialization_events([__import__('dagster').AssetKey('letters')]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "home" / "history" / "runs"), *runs],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert out[0] == str(counts) and min(counts) > 5
    assert runs[1] in out[1]  # the index shard: the asset's latest materialization, by the other process
    instance.dispose()
    reopened = dg.DagsterInstance.from_config(str(tmp_path / "home"))  # not $DAGSTER_HOME: its own folder
    assert isinstance(reopened.event_log_storage, PooledSqliteEventLogStorage)
    assert [len(reopened.all_logs(r)) for r in runs] == counts
    assert reopened.get_latest_materialization_event(dg.AssetKey("letters")).run_id == runs[1]


def test_the_pooled_storage_wakes_a_watcher_of_a_running_run(tmp_path: Path) -> None:
    """The UI follows a live run by watching its shard's file: each write is checkpointed into it, so a
    watcher (another storage object, as in the webserver) hears of events while the run still writes."""
    writer = instance_at(tmp_path / "home")
    reader = PooledSqliteEventLogStorage(str(tmp_path / "home" / "history" / "runs"))
    run = writer.create_run_for_job(dg.GraphDefinition("g").to_job())
    writer.report_engine_event("first", run)
    heard: list[str] = []
    reader.watch(run.run_id, None, lambda entry, cursor: heard.append(entry.dagster_event.message))
    shard = Path(writer.event_log_storage.path_for_shard(run.run_id))
    before = shard.stat().st_mtime_ns
    time.sleep(0.01)
    try:
        writer.report_engine_event("second", run)
        assert shard.stat().st_mtime_ns != before  # what the watcher listens for (not the -wal file)
        deadline = time.monotonic() + 10
        while "second" not in heard and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "second" in heard
    finally:
        reader.dispose()
        writer.dispose()


def test_a_forked_child_starts_with_its_own_connections(tmp_path: Path) -> None:
    """A child forked while the parent holds pooled connections opens its own and leaves the parent's
    alone: both go on reading and writing the same run."""
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))  # a fresh folder: its index built here
    instance = instance_at(tmp_path / "home")
    run = instance.create_run_for_job(dg.GraphDefinition("g").to_job())
    instance.report_engine_event("parent", run)
    parents = dict(instance.event_log_storage._engines)
    assert parents and len(storage._engines) == 1
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code (no pytest machinery here)
        ok = not instance.event_log_storage._engines and instance.event_log_storage._inherited
        instance.report_engine_event("child", run)
        os._exit(0 if ok and len(instance.all_logs(run.run_id)) == 2 else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert instance.event_log_storage._engines == parents  # untouched by the child
    instance.report_engine_event("parent again", run)
    assert [e.dagster_event.message for e in instance.all_logs(run.run_id)] == [
        "parent",
        "child",
        "parent again",
    ]
