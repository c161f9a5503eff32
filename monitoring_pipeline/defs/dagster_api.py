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
- The instance's SQLite storage keeps one open connection per database file per process (dagster.yaml:
  `instance_class: MonitoringInstance`, whose default storage is `PooledSqliteStorage` in the instance's
  own folder, wherever it is loaded from; a `storage:` block, e.g. PostgreSQL, still replaces it).
  Dagster's own opens an engine, a connection and closes it for every statement, and closing the last
  connection of a WAL database checkpoints it and deletes its WAL: 5 connections and ~15 ms per stored
  event, two thirds of a 24-hour run's time.

Everything else uses `dagster` (`dg`) only. `monitoring_pipeline_tests/defs/test_dagster_api.py` fails
when Dagster changes any of this.
"""

import contextlib
import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
import yaml
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as _Target,
)
from dagster._core.instance.ref import InstanceRef as _InstanceRef
from dagster._core.launcher.base import CheckRunHealthResult as CheckRunHealthResult  # re-exported
from dagster._core.launcher.base import WorkerStatus as WorkerStatus  # re-exported
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR as _META
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as _Status
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME as _INDEX
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage as _SqliteEvents
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS as _BUSY_TIMEOUT
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage as _SqliteStorage
from dagster._core.storage.sqlite_storage import _event_logs_directory
from dagster._serdes import ConfigurableClassData as _ClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

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


class PooledSqliteEventLogStorage(_SqliteEvents):
    """Dagster's SQLite event log, with one open connection per database file (the index and the last
    few runs' shards) instead of a new engine and connection per statement. A write to a run's shard
    touches its `.db` file, which is what the UI's live view of a run watches (with one connection kept
    open, writes stay in the `-wal` file until a checkpoint). A forked child starts with no connection
    and a fresh lock; its parent's connections are left alone (closing one could checkpoint under the
    parent's feet)."""

    MAX_OPEN = 8

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._inherited: list[OrderedDict[str, Engine]] = []
        super().__init__(base_dir, inst_data)  # may already connect (a new index is reindexed)
        _POOLED.add(self)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock, self._engine(shard).connect() as conn:
            raw = conn.connection.dbapi_connection
            before = raw.total_changes  # type: ignore[union-attr]
            with conn.begin():
                yield conn
            if shard != _INDEX and raw.total_changes != before:  # type: ignore[union-attr]
                with contextlib.suppress(FileNotFoundError):  # wiped meanwhile: nobody watches it
                    os.utime(self.path_for_shard(shard))

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=StaticPool,
                connect_args={"timeout": _BUSY_TIMEOUT, "check_same_thread": False},
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine  # the most recently used last
        while len(self._engines) > self.MAX_OPEN:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def close_connections(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self.close_connections()
        super().wipe()

    def dispose(self) -> None:
        self.close_connections()
        super().dispose()


_POOLED: "weakref.WeakSet[PooledSqliteEventLogStorage]" = weakref.WeakSet()


def _forget_in_child() -> None:
    """After a fork, in the child: each pooled storage forgets its parent's connections (kept, never used
    nor closed here) and gets a fresh lock (the parent's may have been held at the fork)."""
    for storage in list(_POOLED):
        storage._inherited.append(storage._engines)
        storage._engines = OrderedDict()
        storage._db_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


class PooledSqliteStorage(_SqliteStorage):
    """Dagster's SQLite instance storage (`storage: sqlite`, the same files under `base_dir`) with the
    pooled event log above."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage.dispose()
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> "PooledSqliteStorage":
        return cls.from_local(inst_data=inst_data, **config_value)


class MonitoringInstance(dg.DagsterInstance):
    """Dagster's instance whose default storage is PooledSqliteStorage, in the instance's folder."""

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, Any]:
        storage = _ClassData(__name__, PooledSqliteStorage.__name__, yaml.dump({"base_dir": base_dir}))
        return {**_InstanceRef.config_defaults(base_dir), "storage": storage}
