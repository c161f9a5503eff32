"""Does a recurring operation cost the same after a year of fifty models as on its first day?

Builds two warehouses through the pipeline's own writers (no Dagster run per hour): "day one", where each of
N models has the 24 hours an hourly run needs, and "history", where each has H hours (default 20 models x
8,760 hours: a year). Every model is the demo's fraud classifier under another name: per hour, its facts,
drift summary and per-feature metrics, ten checks (latest and history), performance (latest and history),
an alert now and then; the measured model also gets every hour's profile and reference objects. Then, in one
run, it measures on both:
- `hourly_run`: one model's hour of ~10k rows, from ingest through every check, profile, reference, drift,
  labels (~2.5k of them, for the hour and the 24 before it: the id lookup over `max_delay_hours`) and
  performance to the HTML report, as the hourly job's steps call them;
- `metrics`: a Prometheus collection over all N models (also in CPU seconds: the sensor runs every minute);
- `alert_tick`: the alert sensor's work for a batch of new evaluations (the hourly run's ten checks, all
  failing, as from a new run each time: ten alerts into the outbox and the log, over a year of delivered
  messages);
- `report`: one hour's HTML drift report;
- `analyst_query`: drift_summary of every model over the last 7 days, through the read-only SQL session
  (opening the session included, as `monitoring-pipeline sql` does);
- `analyst_metrics_query`: one model's per-feature drift_metrics over the last day (the same rows in both
  warehouses), the same way: on SQLite the session reads only the bounded hours by index (DuckDB's SQLite
  scanner pushes no filter down; see storage/hour_floor.py).
Each is timed 5 times on each warehouse, alternating between them (best wall time kept, after one
warm-up); prints one JSON line with the figures and the ratios history / day one.
Run: .venv/bin/python benchmarks/history_bench.py [--models 20] [--hours 8760] [--rows 10000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
HOUR = NOW - timedelta(hours=2)  # the measured hour


def logs_subject(check: str, wh: object) -> tuple:
    """A prediction_logs check's arguments: the hour and the warehouse (freshness: also the clock)."""
    return (HOUR, wh, NOW) if check == "logs_arrived_on_time" else (HOUR, wh)


def write_config(folder: Path, models: int) -> Any:
    from monitoring_pipeline.config import load_config

    raw = yaml.safe_load((REPO / "monitors.yaml").read_text())
    fraud = next(m for m in raw["models"] if m["name"] == "fraud_classifier")
    raw["models"] = []
    for i in range(models):
        model = dict(fraud, name=f"m{i:02d}", logs=str(folder / "logs"), partitions_start="2025-01-01-00:00")
        model["labels"] = {**fraud["labels"], "location": str(folder / "labels")}
        raw["models"].append(model)
    raw["warehouse"] = {"results": str(folder / "results.sqlite"), "data": str(folder / "warehouse")}
    raw["alerting"] = {"log_path": str(folder / "alerts.jsonl")}
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


def seed_logs(folder: Path, rows: int) -> None:
    """The measured hour and the 24 before it, for the first model (10k rows in the measured hour)."""
    import numpy as np
    import pandas as pd

    from monitoring_pipeline.demo import fraud_hour, write_hour
    from monitoring_pipeline.storage.object_store import LocalObjectStore

    store, rng = LocalObjectStore(folder / "logs"), np.random.default_rng(3)
    labelled = []
    for k in range(24, -1, -1):
        hour = HOUR - timedelta(hours=k)
        frame = fraud_hour(0, hour, rng, base=rows if k == 0 else 2000)
        write_hour(store, "m00", hour, frame)
        labelled.append(frame["prediction_id"].sample(frac=0.2, random_state=k))
    # the labels that arrive in the measured hour: a fifth of the ids of each of its 25 hours
    ids = pd.concat(labelled, ignore_index=True)
    truth = pd.DataFrame(
        {"prediction_id": ids, "is_fraud": np.where(rng.random(len(ids)) < 0.1, "fraud", "legit")}
    )
    write_hour(LocalObjectStore(folder / "labels"), "m00", HOUR, truth)


def day_one_template(config: Any) -> dict[str, Any]:
    """Run the measured model's 24 reference hours and one hour for real: real rows to copy back in time."""
    from monitoring_pipeline import checks
    from monitoring_pipeline.pipeline.ingest import ingest_hour
    from monitoring_pipeline.pipeline.performance import ingest_labels, performance_hour
    from monitoring_pipeline.pipeline.profile_and_drift import drift_hour, profile_hour
    from monitoring_pipeline.pipeline.references import build_reference, publish_reference
    from monitoring_pipeline.storage.object_store import open_store
    from monitoring_pipeline.storage.warehouse import Warehouse

    model, wh = config.models[0], Warehouse.open(config.warehouse)
    logs = open_store(model.logs)
    for k in range(24, 0, -1):
        hour = HOUR - timedelta(hours=k)
        ingest_hour(model, hour, logs, wh)
        profile_hour(model, hour, wh)
    ingest_hour(model, HOUR, logs, wh)
    profile_hour(model, HOUR, wh)
    publish_reference(model, HOUR, build_reference(model, HOUR, wh), wh)
    drift = drift_hour(model, HOUR, wh)
    ingest_labels(model, HOUR, open_store(model.labels.location), wh)
    perf = performance_hour(model, HOUR, wh)
    logs_checks = [
        c.run(model, *logs_subject(c.name, wh)) for c in checks.checks_of(model, "prediction_logs")
    ]
    outcomes = [("prediction_logs", o) for o in logs_checks]
    outcomes += [("drift_metrics", o) for o in checks.drift_checks(model, drift)]
    outcomes += [("model_performance", o) for o in checks.performance_checks(model, perf, NOW)]
    return {"drift": drift, "perf": perf, "outcomes": outcomes}


def fill(config: Any, template: dict[str, Any], hours: int) -> int:
    """`hours` hours before the measured one for every model, through the pipeline's writers."""
    import numpy as np

    from monitoring_pipeline import checks
    from monitoring_pipeline.pipeline.performance import performance_row
    from monitoring_pipeline.pipeline.profile_and_drift import drift_rows, summary_row
    from monitoring_pipeline.pipeline.retention import ID_MARGIN_HOURS
    from monitoring_pipeline.storage import catalog
    from monitoring_pipeline.storage.label_index import id_row
    from monitoring_pipeline.storage.warehouse import Warehouse

    wh = Warehouse.open(config.warehouse)
    stamps = [HOUR - timedelta(hours=k) for k in range(hours, 0, -1)]
    written = 0
    for model in config.models:
        m = model.name
        facts = [{"model": m, "partition_hour": h, "rows": 2000, "objects": 2, "bytes": 1} for h in stamps]
        drift = [dataclasses.replace(template["drift"], hour=h) for h in stamps]
        metrics = [row for d in drift for row in drift_rows(m, d, NOW)]
        perf = [performance_row(dataclasses.replace(template["perf"], model=m, hour=h)) for h in stamps]
        # the prediction ids that retention keeps (the labels' window and a day), the real hours left as
        # they are
        window = model.labels.max_delay_hours + ID_MARGIN_HOURS
        ids = np.sort(np.random.default_rng(len(m)).integers(0, 2**63, 2000, dtype=np.uint64))
        kept = [h for h in stamps[-window:] if m != "m00" or h < HOUR - timedelta(hours=24)]
        with wh.results.transaction() as conn:
            written += wh.results.upsert(catalog.prediction_ids, [id_row(m, h, ids) for h in kept], conn=conn)
            written += wh.results.upsert(catalog.hour_facts, facts, conn=conn)
            written += wh.results.upsert(
                catalog.drift_summary, [summary_row(m, d, NOW) for d in drift], conn=conn
            )
            written += wh.results.upsert(catalog.drift_metrics, metrics, conn=conn)
            written += wh.results.upsert(catalog.model_performance, perf, conn=conn)
            written += wh.results.upsert(catalog.model_performance_history, perf, conn=conn)
        for asset, o in template["outcomes"]:
            per_hour = [
                dataclasses.replace(o, hour=h, passed=o.passed and k % 97 != 0) for k, h in enumerate(stamps)
            ]
            written += 2 * checks.record(wh, m, asset, o.check, f"history-{m}", per_hour)
        alert = {"sink": "log", "model": m, "check_name": "volume_within_band", "kind": "failure"}
        alert |= {"severity": "WARN", "delivery_state": "delivered"}
        alerts = [
            alert | {"alert_id": f"{m}-{k}", "partition_hour": h, "created_at": h}
            for k, h in enumerate(stamps)
            if k % 97 == 0
        ]
        messages = [  # each delivered through the outbox, as the alert sensor leaves them
            {
                "message_id": a["alert_id"],
                "sink": "log",
                "model": m,
                "partition_hour": a["partition_hour"],
                "payload": "{}",
                "delivery_state": "delivered",
                "attempts": 1,
                "next_at": a["created_at"],
                "created_at": a["created_at"],
                "updated_at": a["created_at"],
                "delivered_at": a["created_at"],
            }
            for a in alerts
        ]
        written += wh.results.upsert(catalog.alerts, [a | {"message_id": a["alert_id"]} for a in alerts])
        written += wh.results.upsert(catalog.alert_messages, messages)
    return written


def copy_profiles(config: Any, hours: int) -> int:
    """Profile and reference objects for every hour of the measured model (copies of a real one)."""
    from monitoring_pipeline.storage import catalog
    from monitoring_pipeline.storage.warehouse import Warehouse

    wh = Warehouse.open(config.warehouse)
    root = Path(wh.tables_root)
    copied = 0
    for table in (catalog.feature_profiles, catalog.reference_profiles):
        source = root / table.key("m00", HOUR)
        for k in range(25, hours + 1):
            target = root / table.key("m00", HOUR - timedelta(hours=k))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied += 1
    return copied


def operations(config: Any) -> dict[str, Callable[[], Any]]:
    from monitoring_pipeline import checks
    from monitoring_pipeline.alerts import dispatch, engine
    from monitoring_pipeline.pipeline.ingest import ingest_hour
    from monitoring_pipeline.pipeline.performance import ingest_labels, performance_hour
    from monitoring_pipeline.pipeline.profile_and_drift import drift_hour, profile_hour
    from monitoring_pipeline.pipeline.references import build_reference, publish_reference
    from monitoring_pipeline.publish.prometheus import collect
    from monitoring_pipeline.publish.reports import hour_report, publish, report_key
    from monitoring_pipeline.storage.object_store import open_store
    from monitoring_pipeline.storage.sql_session import query
    from monitoring_pipeline.storage.warehouse import Warehouse

    model, wh = config.models[0], Warehouse.open(config.warehouse)
    run_id = "measured-run"

    def hourly_run() -> None:
        ingest_hour(model, HOUR, open_store(model.logs), wh)
        for check in checks.checks_of(model, "prediction_logs"):
            outcome = check.run(model, *logs_subject(check.name, wh))
            checks.record(wh, model.name, "prediction_logs", outcome.check, run_id, [outcome])
        profile_hour(model, HOUR, wh)
        publish_reference(model, HOUR, build_reference(model, HOUR, wh), wh)
        for o in checks.drift_checks(model, drift_hour(model, HOUR, wh)):
            checks.record(wh, model.name, "drift_metrics", o.check, run_id, [o])
        ingest_labels(model, HOUR, open_store(model.labels.location), wh)
        for o in checks.performance_checks(model, performance_hour(model, HOUR, wh), NOW):
            checks.record(wh, model.name, "model_performance", o.check, run_id, [o])
        publish(wh, report_key(model.name, HOUR), hour_report(model, HOUR, wh))

    def alert_tick() -> None:
        outcomes = [o for name in CHECKS for o in dispatch.outcomes_of_run(wh, model.name, name, run_id)]
        assert len(outcomes) == len(CHECKS)
        # as if from a new run each time: new alert ids, so every timing enqueues and delivers for real
        fresh = uuid.uuid4().hex
        failing = [dataclasses.replace(o, passed=False, run_id=fresh) for o in outcomes]
        report = dispatch.tick(engine.State(), failing, config, wh, NOW)
        assert report.alerts == len(CHECKS) and report.delivered == 1, report

    def analyst_query() -> int:
        since = f"{NOW - timedelta(days=7):%Y-%m-%d %H:%M:%S}+00"
        week = (
            "SELECT model, avg(drift_share) FROM main.drift_summary "
            f"WHERE partition_hour >= TIMESTAMPTZ '{since}' GROUP BY model"
        )
        with wh.connect([m.name for m in config.models], week) as conn:  # what `monitoring-pipeline sql` does
            return len(query(conn, week).fetchall())

    def analyst_metrics_query() -> int:
        since = f"{NOW - timedelta(days=1):%Y-%m-%d %H:%M:%S}+00"  # a day: the same rows on both warehouses
        week = (
            "SELECT feature, avg(score) FROM main.drift_metrics "
            f"WHERE model = 'm00' AND partition_hour >= TIMESTAMPTZ '{since}' GROUP BY feature"
        )
        with wh.connect([m.name for m in config.models], week) as conn:
            return len(query(conn, week).fetchall())

    return {
        "hourly_run": hourly_run,
        "metrics": lambda: collect(config, wh, NOW),
        "alert_tick": alert_tick,
        "report": lambda: hour_report(model, HOUR, wh),
        "analyst_query": analyst_query,
        "analyst_metrics_query": analyst_metrics_query,
    }


CHECKS = (
    "schema_matches",
    "hour_is_not_empty",
    "volume_within_band",
    "logs_arrived_on_time",
    "data_quality_expectations_pass",
    "drift_share_below_threshold",
    "merchant_category_not_drifted",
    "prediction_not_drifted",
    "performance_within_margin",
    "label_coverage_sufficient",
)


def labels_matched(config: Any) -> str:
    """'matched/rows' of the measured hour's labels: the id lookup found their prediction hours."""
    from monitoring_pipeline.storage import catalog
    from monitoring_pipeline.storage.warehouse import Warehouse

    [facts] = Warehouse.open(config.warehouse).results.hour_rows(catalog.label_facts, "m00", [HOUR])
    return f"{facts['matched']}/{facts['rows']}"


def measure(
    day_one: dict[str, Callable[[], Any]], history: dict[str, Callable[[], Any]], repeats: int = 5
) -> dict[str, dict[str, dict[str, float]]]:
    """Each operation on both warehouses, alternating (day one, history, day one, ...) so that the machine
    getting slower or faster during the run moves both figures alike; the best of `repeats` kept."""
    out: dict[str, dict[str, dict[str, float]]] = {"day_one": {}, "history": {}}
    for name in day_one:
        ops = {"day_one": day_one[name], "history": history[name]}
        for op in ops.values():
            op()  # warm-up: imports, caches, Great Expectations' first context
        walls: dict[str, list[float]] = {label: [] for label in ops}
        cpus: dict[str, list[float]] = {label: [] for label in ops}
        for _ in range(repeats):
            for label, op in ops.items():
                wall, cpu = time.perf_counter(), time.process_time()
                op()
                walls[label].append(time.perf_counter() - wall)
                cpus[label].append(time.process_time() - cpu)
        for label in ops:
            out[label][name] = {"wall_s": round(min(walls[label]), 4), "cpu_s": round(min(cpus[label]), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--hours", type=int, default=8760)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp:
        figures: dict[str, Any] = {"models": args.models, "hours": args.hours}
        ops, configs = {}, {}
        for label, hours in (("day_one", 24), ("history", args.hours)):
            folder = Path(tmp) / label
            folder.mkdir()
            (folder / "labels").mkdir()
            config = write_config(folder, args.models)
            seed_logs(folder, args.rows)
            start = time.perf_counter()
            template = day_one_template(config)
            rows = fill(config, template, hours)
            objects = copy_profiles(config, hours)
            figures[f"{label}_build_s"] = round(time.perf_counter() - start, 1)
            figures[f"{label}_result_rows"] = rows
            figures[f"{label}_objects_copied"] = objects
            ops[label], configs[label] = operations(config), config
        results = measure(ops["day_one"], ops["history"])
        for label, config in configs.items():
            figures[f"{label}_labels_matched"] = labels_matched(config)
        for name in results["history"]:
            figures[name] = results["history"][name] | {"day_one_wall_s": results["day_one"][name]["wall_s"]}
            figures[f"{name}_ratio"] = round(
                results["history"][name]["wall_s"] / results["day_one"][name]["wall_s"], 3
            )
        figures["metrics_cpu_s"] = results["history"]["metrics"]["cpu_s"]
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
