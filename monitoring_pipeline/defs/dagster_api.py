"""The one place that touches Dagster's non-public API: asset-check execution records, and the target
of a per-partition check evaluation.

- The alert sensor needs each evaluation's status, PLANNED / SUCCEEDED / FAILED, which the public event
  API does not give (a run that died leaves its checks PLANNED, and the sensor must not wait on them
  forever). Dagster keeps that in `EventLogStorage.get_asset_check_execution_history`, typed with a
  status enum from `dagster._core`.
- A run of several hours records one check evaluation per hour (`dg.AssetCheckEvaluation` with its
  `partition`, public). Dagster counts an evaluation as the partition's current status only if it names
  the partition's latest materialization as its target; `dg.AssetCheckResult` does that only for a
  one-partition step, and the target's type is not exported.
- The CLI's backfill follows its in-process runs step by step through the records Dagster hands a job's
  loggers; the event rides on the record under `dagster._core.log_manager`'s metadata attribute.
- Run monitoring asks the run launcher whether a run's worker is alive (defs/run_launcher.py); the
  answer's types, `CheckRunHealthResult` and `WorkerStatus`, live in `dagster._core.launcher`.

Everything else uses `dagster` (`dg`) only. `monitoring_pipeline_tests/defs/test_dagster_api.py` fails
when Dagster changes any of this.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as _Target,
)
from dagster._core.launcher.base import CheckRunHealthResult as CheckRunHealthResult  # re-exported
from dagster._core.launcher.base import WorkerStatus as WorkerStatus  # re-exported
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR as _META
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as _Status

PLANNED = _Status.PLANNED
DONE = (_Status.SUCCEEDED, _Status.FAILED)


def check_executions(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, limit: int, before: int | None = None
) -> Sequence[Any]:
    """Up to `limit` execution records of `key`, newest first, with ids below `before`: each has `id`,
    `status`, `run_id`, `partition` (None for an unpartitioned check) and `create_timestamp`."""
    return instance.event_log_storage.get_asset_check_execution_history(key, limit=limit, cursor=before)


def latest_materializations(
    instance: dg.DagsterInstance, asset: dg.AssetKey, partitions: Sequence[str]
) -> dict[str, Any]:
    """The latest materialization of each of `partitions` that has one, as an evaluation's target.
    Newest first, a page the size of the asks: one query when the partitions were just materialized
    together (a check in the run that wrote them), more only for partitions materialized apart."""
    wanted, found, cursor = set(partitions), {}, None
    while wanted - found.keys():
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset, asset_partitions=sorted(wanted - found.keys())),
            limit=max(len(wanted), 1),
            cursor=cursor,
        )
        for record in page.records:
            found.setdefault(record.partition_key, record)
        if not page.has_more:
            break
        cursor = page.cursor
    return {
        p: _Target(run_id=r.run_id, storage_id=r.storage_id, timestamp=r.timestamp) for p, r in found.items()
    }


def partition_evaluation(
    key: dg.AssetCheckKey,
    partition: str,
    targets: Mapping[str, Any],
    *,
    passed: bool,
    severity: dg.AssetCheckSeverity,
    blocking: bool,
    metadata: Mapping[str, Any],
    description: str,
) -> dg.AssetCheckEvaluation:
    """One partition's evaluation of a check, pointing at that partition's latest materialization."""
    return dg.AssetCheckEvaluation(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=passed,
        partition=partition,
        target_materialization_data=targets.get(partition),
        severity=severity,
        blocking=blocking,
        metadata=dict(metadata),
        description=description,
    )


def check_output(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, key: dg.AssetCheckKey
) -> dg.Output:
    """The step output a check must yield when its evaluations are yielded directly (what Dagster
    yields for an AssetCheckResult): downstream steps and the run's plan wait on it."""
    assets_def = context.op_execution_context.assets_def
    [name] = [n for n, spec in assets_def.check_specs_by_output_name.items() if spec.key == key]
    return dg.Output(None, output_name=name)


def record_event(record: logging.LogRecord) -> dg.DagsterEvent | None:
    """The Dagster event a record a job's logger receives carries (None for a plain log message)."""
    return (getattr(record, _META, None) or {}).get("dagster_event")
