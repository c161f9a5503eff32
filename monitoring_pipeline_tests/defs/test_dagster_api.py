"""The one wrapper around Dagster's non-public API (defs/dagster_api.py), on a real ephemeral
instance: it fails when Dagster renames or reshapes the asset-check execution records."""

from __future__ import annotations

import dagster as dg

from monitoring_pipeline.defs.dagster_api import DONE, PLANNED, check_executions


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
