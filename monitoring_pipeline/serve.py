"""`monitoring-pipeline serve` (what `make run` starts): `dagster dev` that a Ctrl-C stops whole, within
seconds. `dagster dev` runs in its own session (its process group holds the webserver, the daemon, the
code servers and the run workers they start); this process takes SIGINT and SIGTERM, passes SIGINT on
to that group (Dagster's own shutdown: runs in flight are marked failed, the servers close), and after
a grace period SIGKILLs whatever of the group is left (a webserver waiting on its connections, a code
server still loading). A second Ctrl-C kills at once.

Its own session also means `dagster dev` never inherits an ignored SIGINT (a shell's `&` does that) and
that a terminal's Ctrl-C reaches it through this process only, once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

GRACE_SECONDS = 6.0


def dagster_dev(host: str, port: int, workspace: str) -> list[str]:
    return [str(Path(sys.executable).parent / "dagster"), "dev", "-h", host, "-p", str(port), "-w", workspace]


def serve(command: list[str], grace: float | None = None) -> int:
    """Run `command` in its own session until it exits or a SIGINT/SIGTERM arrives; then stop its
    whole process group within `grace` seconds. The command's exit code, or 130 after a signal."""
    grace = GRACE_SECONDS if grace is None else grace
    signals: list[int] = []
    child: subprocess.Popen | None = None

    def on_signal(signo: int, _frame: FrameType | None) -> None:
        signals.append(signo)
        if len(signals) > 1 and child is not None:
            _kill_group(child.pid)  # a second Ctrl-C: no more waiting

    # installed before the child starts: it begins with default dispositions, never an inherited ignore
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        child = subprocess.Popen(command, start_new_session=True)
        while child.poll() is None and not signals:
            time.sleep(0.2)
        deadline = time.monotonic() + grace
        if signals:
            _signal_group(child.pid, signal.SIGINT)
        while _group_exists(child.pid) and time.monotonic() < deadline:
            child.poll()  # reap the leader, so that only the rest of the group keeps it existing
            time.sleep(0.1)
        _kill_group(child.pid)
        child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 130 if signals else child.returncode


def _signal_group(pgid: int, signo: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(pgid, signo)


def _kill_group(pgid: int) -> None:
    _signal_group(pgid, signal.SIGKILL)


def _group_exists(pgid: int) -> bool:
    """Whether any process of the group exists (a zombie nobody reaps counts: then the grace runs out)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
