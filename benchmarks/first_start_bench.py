"""A new user's first start, timed: `make run` on a fresh clone of this repository, in a temporary folder,
until the Dagster UI answers and the demo's first alert is in `data/alerts.jsonl`; then Ctrl-C (SIGINT to
the process group, as a terminal sends it) and how long everything takes to stop.

Prints one JSON line: seconds from the start of `make run` to each milestone (install done, demo seeded,
demo backfilled, UI answering, first alert), the total (the later of the UI and the first alert), the
seconds from SIGINT until no process of the group is left, and the alerts written by then. The install
uses the machine's package cache as `make run` would (uv's cache; say so when you quote the figure).
Run: .venv/bin/python benchmarks/first_start_bench.py [--timeout 900] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ui_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def first_start(clone: Path, port: int, timeout: float) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITORING_", "DAGSTER_"))}
    data = clone / "data"
    milestones = {
        "install_s": lambda: (clone / ".venv" / ".installed").exists(),
        "seeded_s": lambda: (data / "demo_window.json").exists(),
        "backfilled_s": lambda: (data / "dagster_home" / ".demo_backfilled").exists(),
        "ui_s": lambda: ui_answers(port),
        "first_alert_s": lambda: (
            (data / "alerts.jsonl").exists() and (data / "alerts.jsonl").stat().st_size > 0
        ),
    }
    seen: dict[str, float] = {}
    with open(clone / "make-run.log", "wb") as log:
        start = time.monotonic()
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            while len(seen) < len(milestones) and time.monotonic() - start < timeout:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"make run exited with {proc.returncode}; see {clone / 'make-run.log'}"
                    )
                for name, reached in milestones.items():
                    if name not in seen and reached():
                        seen[name] = round(time.monotonic() - start, 1)
                time.sleep(0.5)
        finally:
            stop_started = time.monotonic()
            if alive(proc.pid):
                os.killpg(proc.pid, signal.SIGINT)
            while alive(proc.pid) and time.monotonic() - stop_started < 60:
                proc.poll()
                time.sleep(0.1)
            stop_s = round(time.monotonic() - stop_started, 1)
            if alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    alerts = (data / "alerts.jsonl").read_text().splitlines() if (data / "alerts.jsonl").exists() else []
    missing = sorted(set(milestones) - set(seen))
    return {
        **{name: seen.get(name) for name in milestones},
        "total_s": max(seen["ui_s"], seen["first_alert_s"]) if not missing else None,
        "missed": missing,
        "stop_after_sigint_s": stop_s,
        "alerts_written": len(alerts),
        "load_before": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone (its make-run.log)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="first-start-"))
    try:
        clone = folder / "repo"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        load = os.getloadavg()[0]
        figures = first_start(clone, free_port(), args.timeout)
        figures["load_before"] = round(load, 2)
        print(json.dumps(figures))
    finally:
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
