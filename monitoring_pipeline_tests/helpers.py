"""Small helpers shared by the test layers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg

from monitoring_pipeline.config import Frozen, MonitorsConfig
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.partitions import range_tags
from monitoring_pipeline.defs.schedules import hourly_asset_names
from monitoring_pipeline.storage import duck
from monitoring_pipeline.storage.warehouse import Warehouse

F = TypeVar("F", bound=Frozen)


def replace(config: F, **changes: Any) -> F:
    """A copy of a frozen config object with some fields changed (for tests: no validation)."""
    return config.model_copy(update=changes)


def key(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%d-%H:%M")


def materialize_logs(
    config: MonitorsConfig,
    model: str,
    first: datetime,
    last: datetime | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialize `<model>/prediction_logs` for one hour, or the range first..last, in process."""
    defs = build_definitions(config)
    asset = defs.resolve_assets_def(dg.AssetKey([model, "prediction_logs"]))
    if last is None:
        return dg.materialize([asset], partition_key=key(first), raise_on_error=raise_on_error)
    tags = {"dagster/asset_partition_range_start": key(first), "dagster/asset_partition_range_end": key(last)}
    return dg.materialize([asset], tags=tags, raise_on_error=raise_on_error)


def warehouse_rows(config: MonitorsConfig, model: str) -> dict[datetime, int]:
    """Rows per partition hour, read through the catalog the way an analyst would (read-only)."""
    wh = Warehouse.open(config.warehouse)
    with wh.connect([m.name for m in config.models]) as conn:
        rows = conn.execute(
            f"SELECT partition_hour, count(*) FROM {duck.quote_identifier(model)}.prediction_logs GROUP BY 1"
        ).fetchall()
    return {hour: count for hour, count in rows}


def copy_hour(src_root: Path, dst_root: Path, model: str, hour: datetime) -> Path:
    """Copy one hour's objects into another local store; return the hour's folder there."""
    rel = Path(model, f"dt={hour:%Y-%m-%d}", f"hour={hour:%H}")
    shutil.copytree(src_root / rel, dst_root / rel)
    return dst_root / rel


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs. Zombies do not count: in a container whose PID 1
    does not reap orphans, a killed run worker can linger as a zombie that nothing will ever collect."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return any(group == pgid and state != "Z" for _, group, state in _processes().values())


def stop_process_group(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM a process started with start_new_session=True and all it spawned; SIGKILL what lingers."""
    if group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(proc.pid) and time.monotonic() < deadline:
        proc.poll()  # reap the leader so it does not linger as a zombie
        time.sleep(0.2)
    if group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PIPELINE = ("prediction_logs", "feature_profiles", "reference_profile", "drift_metrics")


def run_pipeline(
    config: MonitorsConfig,
    model: str,
    first: datetime,
    last: datetime,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Every asset (and check) of a model for the hours first..last in one run, the way a backfill
    run does, after materializing a file reference on its own (a fixed window's: build_reference)."""
    job = build_definitions(config).resolve_implicit_global_asset_job_def()
    instance = instance or dg.DagsterInstance.ephemeral()
    if config.model(model).reference.type == "file":
        job.execute_in_process(asset_selection=[dg.AssetKey([model, "reference_profile"])], instance=instance)
    hourly = [dg.AssetKey([model, name]) for name in hourly_asset_names(config.model(model))]
    return job.execute_in_process(
        asset_selection=hourly, tags=range_tags(first, last), instance=instance, raise_on_error=False
    )


def build_reference(
    config: MonitorsConfig, model: str, instance: dg.DagsterInstance, first: datetime, last: datetime
) -> None:
    """A fixed window's reference: its hours loaded and profiled (nothing else), then the reference."""
    job = build_definitions(config).resolve_implicit_global_asset_job_def()
    inputs = [dg.AssetKey([model, "prediction_logs"]), dg.AssetKey([model, "feature_profiles"])]
    assert job.execute_in_process(
        asset_selection=inputs, tags=range_tags(first, last), instance=instance
    ).success
    job.execute_in_process(asset_selection=[dg.AssetKey([model, "reference_profile"])], instance=instance)


def query(config: MonitorsConfig, sql: str, params: list | None = None) -> list[tuple]:
    wh = Warehouse.open(config.warehouse)
    with wh.connect([m.name for m in config.models], sql) as conn:
        return conn.execute(sql, params or []).fetchall()


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every process: pid -> (parent pid, process group, state), from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the name: state, ppid, pgrp, ...
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        found[int(stat.parent.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return found


def descendants(root: int, known: set[int] | None = None) -> set[int]:
    """`root` and every process under it, added to `known` (call it often: an orphan leaves the tree)."""
    found = set(known or ()) | {root}
    procs = _processes()
    grew = True
    while grew:
        new = {pid for pid, (ppid, _, _) in procs.items() if ppid in found} - found
        found |= new
        grew = bool(new)
    return found


def living(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies do not count: see group_alive)."""
    procs = _processes()
    return {pid for pid in pids if pid in procs and procs[pid][2] != "Z"}
