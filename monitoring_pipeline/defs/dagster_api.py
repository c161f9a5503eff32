"""The one place that touches Dagster's non-public API: asset-check execution records.

The alert sensor needs each evaluation's status, PLANNED / SUCCEEDED / FAILED, which the public event
API does not give (a run that died leaves its checks PLANNED, and the sensor must not wait on them
forever). Dagster keeps that in `EventLogStorage.get_asset_check_execution_history`, typed with a
status enum from `dagster._core`. Everything else uses `dagster` (`dg`) only.
`monitoring_pipeline_tests/defs/test_dagster_api.py` fails when Dagster changes either.
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as _Status

PLANNED = _Status.PLANNED
DONE = (_Status.SUCCEEDED, _Status.FAILED)


def check_executions(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, limit: int, before: int | None = None
) -> Sequence[Any]:
    """Up to `limit` execution records of `key`, newest first, with ids below `before`: each has `id`,
    `status`, `run_id` and `create_timestamp`."""
    return instance.event_log_storage.get_asset_check_execution_history(key, limit=limit, cursor=before)
