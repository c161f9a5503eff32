"""Ctrl-C stops `make run` whole within 10 s: a terminal's Ctrl-C is a SIGINT to its foreground process
group, here `make` started in a session of its own. Every process under make (the backfill, or
`monitoring-pipeline serve` with dagster dev's webserver, daemon and code servers) must be gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from monitoring_pipeline.config import REPO_ROOT
from monitoring_pipeline_tests.conftest import write_config
from monitoring_pipeline_tests.helpers import descendants, free_port, living, stop_process_group

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
STOP_SECONDS = 10


def make_run(tmp_path: Path, backfilled: bool) -> tuple[subprocess.Popen, Path, int]:
    """`make run` on a temporary config and DAGSTER_HOME with three seeded hours (so seed-demo --if-empty
    does nothing); `backfilled`: the demo backfill is marked done (so it is skipped)."""
    config = write_config(tmp_path, str(tmp_path / "logs"))
    home = tmp_path / "dagster_home"
    env = {**os.environ, "MONITORING_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    seed = [str(BIN / "monitoring-pipeline"), "seed-demo", "--hours", "3"]
    subprocess.run(seed, env=env, check=True, timeout=120, capture_output=True)
    if backfilled:
        home.mkdir()
        (home / ".demo_backfilled").write_text("done")
    port = free_port()
    command = ["make", "run", f"PORT={port}", f"DAGSTER_HOME={home}", f"MONITORING_CONFIG={config}"]
    out = (tmp_path / "make.log").open("w")
    proc = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    return proc, home, port


def watch_until(proc: subprocess.Popen, ready: Callable[[], bool], seconds: float) -> set[int]:
    """Follow make's process tree until `ready`; return every process seen under it."""
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    while not ready():
        assert proc.poll() is None, "make exited early"
        assert time.monotonic() < deadline, "not ready in time"
        seen = descendants(proc.pid, seen)
        time.sleep(0.2)
    return descendants(proc.pid, seen)


def ctrl_c_stops_all(proc: subprocess.Popen, seen: set[int]) -> None:
    """SIGINT to make's process group: every process seen under make is gone within STOP_SECONDS, and
    make exits with an error."""
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    while living(seen) and time.monotonic() - started < 3 * STOP_SECONDS:
        seen = descendants(proc.pid, seen) if proc.poll() is None else seen
        time.sleep(0.1)
    waited = time.monotonic() - started
    assert not living(seen), f"still running {waited:.1f} s after Ctrl-C: {sorted(living(seen))}"
    assert waited < STOP_SECONDS
    assert proc.wait(timeout=5) != 0


def ui_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
            return True
    except OSError:
        return False


def test_ctrl_c_stops_make_run_serving_the_ui_within_10_seconds(tmp_path: Path) -> None:
    proc, _, port = make_run(tmp_path, backfilled=True)
    try:
        seen = watch_until(proc, lambda: ui_answers(port), 240)
        names = {Path(f"/proc/{pid}/cmdline").read_bytes() for pid in living(seen)}
        assert any(b"dagster_webserver" in n for n in names) and any(b"dagster._daemon" in n for n in names)
        assert any(b"code-server" in n or b"api\x00grpc" in n for n in names)
        ctrl_c_stops_all(proc, seen)
    finally:
        stop_process_group(proc)
        for pid in living(descendants(proc.pid)):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_during_the_backfill_stops_make_run_within_10_seconds(tmp_path: Path) -> None:
    """Interrupted inside a run's steps: the run is marked failed, none is left going, and the demo is
    not marked backfilled (the next `make run` backfills it again)."""
    proc, home, _ = make_run(tmp_path, backfilled=False)
    try:

        def in_a_run() -> bool:
            logs = list((home / "logs").glob("backfill-*.log")) if (home / "logs").exists() else []
            return bool(logs) and logs[0].read_text().count("STEP_START") >= 3

        seen = watch_until(proc, in_a_run, 240)
        ctrl_c_stops_all(proc, seen)
    finally:
        stop_process_group(proc)
    assert not (home / ".demo_backfilled").exists()
    assert "backfill summary (interrupted)" in (tmp_path / "make.log").read_text()
    runs = dg.DagsterInstance.from_config(str(home)).get_runs()
    assert runs and all(r.is_finished for r in runs)
