"""The one wrapper around Dagster's non-public API (defs/dagster_api.py), on a real ephemeral
instance: it fails when Dagster renames or reshapes the asset-check execution records, or stops
counting per-partition evaluations as each partition's status."""

import logging
from collections.abc import Iterator
from typing import Any

import dagster as dg

from monitoring_pipeline.defs.dagster_api import (
    DONE,
    PLANNED,
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
