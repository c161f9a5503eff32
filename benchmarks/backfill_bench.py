"""A week of hourly logs backfilled through the real Dagster daemon, the way the UI launches it, against
the same hours computed in one plain Python process without Dagster (the floor).

Seeds `--days` x 24 hours of `fraud_classifier` logs (~`--rows` rows per hour, the demo's generator
without incidents, two objects per hour), starts `dagster dev` (webserver + daemon) on a temporary
DAGSTER_HOME with the repository's dagster.yaml, launches a backfill of every hourly asset of the model
with GraphQL `launchPartitionBackfill` (what the UI's "Launch backfill" sends) and waits for it. Then runs
the same hours through the same functions in a fresh `python` process, into a separate warehouse: ingest,
the five log checks (incl. Great Expectations), profile, trailing reference, drift, drift checks,
multivariate drift and its check (where the model has it) and the HTML reports.

Prints one JSON line: wall time of the backfill (launch -> completed), runs created, hours per minute,
the floor's time (process start and imports included, as a run pays them too), Dagster's share of the
wall time ((wall - floor) / wall), and the sum of the runs' own durations.
Run: .venv/bin/python benchmarks/backfill_bench.py [--days 7] [--rows 100000] [--hours-per-run 24]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = "fraud_classifier"
# every hourly asset of the model as the UI selects them (no labels here: the bench seeds none)
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def seed(logs: Path, hours: list[datetime], rows: int) -> int:
    import numpy as np

    from monitoring_pipeline.demo import fraud_hour, write_hour
    from monitoring_pipeline.storage.object_store import LocalObjectStore

    store, total = LocalObjectStore(str(logs)), 0
    rng = np.random.default_rng(11)
    for hour in hours:
        frame = fraud_hour(-1, hour, rng, base=rows)  # index -1: no demo incident
        write_hour(store, MODEL, hour, frame)
        total += len(frame)
    return total


def write_config(folder: Path, logs: Path, first: datetime, hours_per_run: int) -> Path:
    raw = yaml.safe_load((REPO / "monitors.yaml").read_text())
    raw["warehouse"] = {"results": str(folder / "results.sqlite"), "data": str(folder / "warehouse")}
    raw["alerting"] = {"log_path": str(folder / "alerts.jsonl")}
    raw["models"] = [m for m in raw["models"] if m["name"] == MODEL]
    raw["models"][0].update(logs=str(logs), partitions_start=f"{first:%Y-%m-%d-%H:%M}")
    raw["models"][0].pop("labels", None)
    raw["models"][0]["max_hours_per_run"] = hours_per_run
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["data"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backfill_through_daemon(config: Path, home: Path, hours: list[datetime]) -> dict:
    import dagster as dg

    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.defs.schedules import hourly_asset_names

    assets = hourly_asset_names(load_config(config).models[0])  # what the model's hourly job selects

    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {**os.environ, "MONITORING_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    port = free_port()
    with open(home / "dagster-dev.log", "w") as log:
        ui = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for _ in range(180):
            try:
                graphql(port, "{ version }", {})
                break
            except OSError:
                time.sleep(1)
        params = {
            "partitionNames": [f"{h:%Y-%m-%d-%H:%M}" for h in hours],
            "fromFailure": False,
            "assetSelection": [{"path": [MODEL, name]} for name in assets],
        }
        started, launched_at = time.monotonic(), time.time()
        launched = graphql(port, LAUNCH, {"params": params})["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {launched}")
        status = None
        while status not in DONE:
            time.sleep(0.5)
            status = graphql(port, STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"][
                "status"
            ]
        wall = time.monotonic() - started
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]}))
            records = instance.get_run_records(filters=dg.RunsFilter(run_ids=[r.run_id for r in runs]))
            run_seconds = sum((r.end_time or 0) - (r.start_time or 0) for r in records)
            first_start = min((r.start_time or launched_at) for r in records) - launched_at
            last_end = max((r.end_time or launched_at) for r in records) - launched_at
            ok = all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        return {
            "status": status,
            "wall_s": wall,
            "runs": len(runs),
            "runs_succeeded": ok,
            "run_s": run_seconds,
            "first_run_start_s": first_start,
            "last_run_end_s": last_end,
        }
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)


def floor(config_path: str, first: str, count: int) -> None:
    """The job's work for each hour, in this process, without Dagster (run in a fresh interpreter)."""
    from monitoring_pipeline import checks
    from monitoring_pipeline.config import load_config, parse_hour
    from monitoring_pipeline.pipeline.ingest import ingest_hour
    from monitoring_pipeline.pipeline.multivariate import RunCache, multivariate_hour
    from monitoring_pipeline.pipeline.profile_and_drift import drift_hour, profile_hour
    from monitoring_pipeline.pipeline.references import build_reference, publish_reference
    from monitoring_pipeline.publish.reports import (
        hour_report,
        publish,
        report_key,
        window_key,
        window_report,
    )
    from monitoring_pipeline.storage.object_store import open_store
    from monitoring_pipeline.storage.warehouse import Warehouse

    config = load_config(config_path)
    model = config.models[0]
    wh = Warehouse.open(config.warehouse)
    logs = open_store(model.logs)
    hours = [parse_hour(first) + timedelta(hours=k) for k in range(count)]
    size = model.max_hours_per_run
    for start in range(0, count, size):  # the same runs of `max_hours_per_run` hours, asset by asset
        chunk = hours[start : start + size]
        for hour in chunk:
            ingest_hour(model, hour, logs, wh)
        outcomes: dict[str, list] = {}
        for name in ("schema_matches", "hour_is_not_empty", "volume_within_band", "logs_arrived_on_time"):
            outcomes[name] = [checks.evaluate(model, name, h, wh) for h in chunk]
        blocked = {o.hour for n in checks.BLOCKING for o in outcomes[n] if not o.passed}
        usable = [h for h in chunk if h not in blocked]
        for hour in usable:
            profile_hour(model, hour, wh)
        outcomes["data_quality_expectations_pass"] = [
            checks.evaluate(model, "data_quality_expectations_pass", h, wh) for h in usable
        ]
        for hour in usable:
            publish_reference(model, hour, build_reference(model, hour, wh), wh)
        for hour in usable:
            for outcome in checks.drift_checks(model, drift_hour(model, hour, wh)):
                outcomes.setdefault(outcome.check, []).append(outcome)
        if model.multivariate_on:
            cache = RunCache()
            for hour in usable:
                result = multivariate_hour(model, hour, wh, cache)
                for outcome in checks.multivariate_checks(model, result):
                    outcomes.setdefault(outcome.check, []).append(outcome)
        for name, found in outcomes.items():
            if found:
                checks.record(wh, model.name, "bench", name, f"floor-{start}", found)
        for hour in usable:
            publish(wh, report_key(model.name, hour), hour_report(model, hour, wh))
        if len(usable) > 1:
            publish(
                wh,
                window_key(model.name, usable[0], usable[-1]),
                window_report(model, usable[0], usable[-1], wh),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--hours-per-run", type=int, default=24, help="the model's max_hours_per_run")
    parser.add_argument("--floor", nargs=3, metavar=("CONFIG", "FIRST", "HOURS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(args.floor[0], args.floor[1], int(args.floor[2]))
        return
    count = args.days * 24
    first = datetime(2026, 1, 1, tzinfo=UTC)
    hours = [first + timedelta(hours=k) for k in range(count)]
    with tempfile.TemporaryDirectory(prefix="monitoring-backfill-bench-") as tmp:
        root = Path(tmp)
        t0 = time.monotonic()
        rows = seed(root / "logs", hours, args.rows)
        seed_s = time.monotonic() - t0
        (root / "dagster").mkdir()
        dagster_config = write_config(root / "dagster", root / "logs", first, args.hours_per_run)
        result = backfill_through_daemon(dagster_config, root / "dagster" / "home", hours)
        (root / "floor").mkdir()
        floor_config = write_config(root / "floor", root / "logs", first, args.hours_per_run)
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, __file__, "--floor", str(floor_config), f"{first:%Y-%m-%d-%H:%M}", str(count)],
            check=True,
        )
        floor_s = time.monotonic() - t0
    wall = result["wall_s"]
    print(
        json.dumps(
            {
                "hours": count,
                "hours_per_run": args.hours_per_run,
                "rows": rows,
                "seed_s": round(seed_s, 1),
                "backfill_status": result["status"],
                "runs_succeeded": result["runs_succeeded"],
                "wall_s": round(wall, 1),
                "runs": result["runs"],
                "hours_per_minute": round(count / wall * 60, 1),
                "sum_run_durations_s": round(result["run_s"], 1),
                # launch -> first run started, and -> last run ended: the rest of wall_s is the backfill
                # daemon noticing the end on its next 30-second loop
                "first_run_start_s": round(result["first_run_start_s"], 1),
                "last_run_end_s": round(result["last_run_end_s"], 1),
                "floor_s": round(floor_s, 1),
                "dagster_share": round((wall - floor_s) / wall, 3),
                "target": "wall_s < 180 and dagster_share < 0.5",
            }
        )
    )


if __name__ == "__main__":
    main()
