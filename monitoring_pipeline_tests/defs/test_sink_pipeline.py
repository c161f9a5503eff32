"""The whole hourly pipeline on logs a streaming sink landed (Kafka Connect JSON lines with nested
fields, by arrival), on the local store and on S3: every hour holds its event hour's records, a shift of
a nested feature alarms in its hours only, records beyond the delay fail the late-records check of the
hour whose folder they landed in and no other; and the late-files sensor re-runs an event hour when one of
its later arrival folders gains an object."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.demo import seed_demo
from monitoring_pipeline.storage.object_store import open_store
from monitoring_pipeline_tests.conftest import DEMO_END, write_config
from monitoring_pipeline_tests.conftest import HOURS as DEMO_HOURS
from monitoring_pipeline_tests.defs.test_schedules import ticker
from monitoring_pipeline_tests.helpers import key, query, run_pipeline
from monitoring_pipeline_tests.sinks import sink_traffic, write_firehose, write_kafka_connect
from monitoring_pipeline_tests.stores import Stores

pytestmark = pytest.mark.heavy(90)

START = datetime(2026, 3, 1, 0, tzinfo=UTC)
HOURS = 30
SHIFTED = range(26, 30)  # user.age +8 (0.8 sd) in these event hours
HOUR = timedelta(hours=1)
FRAUD = "fraud_classifier"


def floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def write_monitors(folder: Path, logs: str, data: str, layout: str, fields: dict[str, str]) -> MonitorsConfig:
    model: dict[str, Any] = {
        "name": "shop",
        "task": "classification",
        "logs": logs,
        "logs_layout": layout,
        "logs_fields": fields,
        "timestamp_column": "ts",
        "id_column": "id",
        "partitions_start": f"{START - HOUR:%Y-%m-%d-%H}:00",
        "features": {
            "amount": "numerical",
            "country": "categorical",
            "user.age": "numerical",
            "device.os": "categorical",
        },
        "predictions": {"score": "numerical"},
        "reference": {"type": "trailing", "hours": 12},
        "multivariate": {"enabled": False},
    }
    raw = {
        "warehouse": {"results": str(folder / "results.sqlite"), "data": data},
        "alerting": {"log_path": str(folder / "alerts.jsonl")},
        "prometheus_textfile": None,
        "models": [model],
    }
    path = folder / "monitors.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


def test_the_pipeline_runs_on_kafka_connect_json_by_event_hour(stores: Stores) -> None:
    logs = f"{stores.root}/kafka"
    records, arrivals = sink_traffic(START, HOURS, 400, seed=5, age_shift=dict.fromkeys(SHIFTED, 8.0))
    write_kafka_connect(logs, "shop", records, arrivals, "json")
    config = write_monitors(stores.folder, logs, stores.data, "kafka_connect", {})
    result = run_pipeline(config, "shop", START, START + (HOURS - 1) * HOUR)
    assert result.success

    event_hours = [floor(datetime.fromisoformat(r["ts"])) for r in records]
    folders = [floor(a) for a in arrivals]
    want = {START + h * HOUR: 0 for h in range(HOURS)}
    outside: dict[datetime, int] = {}
    for event, folder in zip(event_hours, folders, strict=True):
        if event <= folder <= event + HOUR:
            want[event] += 1
        else:
            outside[folder] = outside.get(folder, 0) + 1
    rows = dict(query(config, "SELECT partition_hour, rows FROM main.hour_facts WHERE model = 'shop'"))
    assert rows == want
    checks = query(
        config,
        "SELECT check_name, partition_hour, passed FROM main.check_results WHERE model = 'shop'",
    )
    failed = {(c, h) for c, h, passed in checks if not passed}
    late = {h for c, h in failed if c == "records_arrived_within_delay"}
    assert late == {h for h, n in outside.items() if START <= h < START + HOURS * HOUR and n}
    drifted = query(
        config,
        "SELECT partition_hour FROM main.drift_metrics WHERE model = 'shop' AND feature = 'user.age' "
        "AND drifted ORDER BY 1",
    )
    assert [h for (h,) in drifted] == [START + h * HOUR for h in SHIFTED]
    # nothing else failed but what the late and early records and the shift explain (and, on S3, the
    # freshness check: an object's LastModified there is when the test uploaded it)
    explained = {"records_arrived_within_delay", "drift_share_below_threshold", "logs_arrived_on_time"}
    assert {c for c, _ in failed} <= explained, failed
    if stores.kind == "local":
        assert not {h for c, h in failed if c == "logs_arrived_on_time"}
    assert ("schema_matches", START) not in failed


def test_the_late_files_sensor_reruns_an_event_hour_whose_next_folder_gains_an_object(stores: Stores) -> None:
    hour = (datetime.now(UTC) - timedelta(hours=4)).replace(minute=0, second=0, microsecond=0)
    logs = f"{stores.root}/firehose"
    records, arrivals = sink_traffic(hour, 1, 300, seed=6, outside_share=0.0)
    write_firehose(logs, "shop/", "shop", records, arrivals)  # delivered before the hour is loaded
    config = write_monitors(stores.folder, logs, stores.data, "firehose", {})
    instance = dg.DagsterInstance.ephemeral()
    tick = ticker(build_definitions(config), "shop_late_files", instance)
    assert tick() == []  # never loaded: the schedule's job
    assert run_pipeline(config, "shop", hour, hour, instance=instance).success
    assert tick() == []
    straggler = {**records[0], "id": "straggler", "ts": (hour + timedelta(minutes=58)).isoformat()}
    write_firehose(logs, "shop/", "shop", [straggler], [datetime.now(UTC)])  # lands now, in today's folder
    assert tick() == []  # the folder it landed in is no arrival folder of the loaded hour
    late = hour + HOUR + timedelta(minutes=20)  # the hour's next arrival folder gains an object, now
    [landed] = write_firehose(logs, "shop/", "shop", [straggler], [late])
    if stores.kind == "local":  # S3 stamps the upload time, now; the local store, as told
        os.utime(Path(logs) / landed)
    [request] = tick()
    assert request.partition_key == key(hour)
    assert [r.run_key for r in tick()] == [request.run_key]  # the same request until it has run
    assert run_pipeline(config, "shop", hour, hour, instance=instance).success
    assert tick() == []
    [(rows,)] = query(config, "SELECT rows FROM main.hour_facts WHERE partition_hour = ?", [hour])
    assert rows == len(records) + 1  # the straggler that landed within the delay is in its hour


def test_the_firehose_demo_gives_the_hive_demos_results(stores: Stores) -> None:
    """`seed-demo --layout firehose` through the whole hourly pipeline: the same rows, profiles, drift and
    check outcomes as the hive demo, hour by hour, around the new-category incident (fraud hour 60)."""
    logs, labels = f"{stores.root}/firehose", f"{stores.root}/labels"
    seed_demo(
        {FRAUD: open_store(logs)},
        end=DEMO_END,
        labels={FRAUD: open_store(labels)},
        layout="firehose",
    )
    first, last = DEMO_HOURS[56], DEMO_HOURS[61]
    results = {}
    for layout, location in (("hive", stores.demo), ("firehose", logs)):
        folder = stores.folder / f"config-{layout}"
        folder.mkdir()
        config = load_config(
            write_config(
                folder,
                location,
                data=f"{stores.data}/{layout}",
                labels=f"{stores.demo.rsplit('/', 1)[0]}/labels" if layout == "hive" else labels,
                logs_layout=layout,
                reference={"type": "trailing", "hours": 3},
            )
        )
        assert config.model(FRAUD).event_time is (layout == "firehose")
        assert run_pipeline(config, FRAUD, first, last).success
        results[layout] = {
            "rows": query(config, "SELECT partition_hour, rows FROM main.hour_facts ORDER BY 1"),
            "drift": query(
                config,
                "SELECT partition_hour, feature, test, round(score, 9), drifted FROM main.drift_metrics "
                "ORDER BY 1, 2",
            ),
            "checks": query(
                config,
                "SELECT partition_hour, check_name, passed, severity FROM main.check_results "
                "WHERE model = ? AND check_name NOT IN (?, ?) ORDER BY 1, 2",
                [FRAUD, "logs_arrived_on_time", "records_arrived_within_delay"],
            ),
            "late": query(
                config,
                "SELECT count(*) FROM main.check_results WHERE check_name = ? AND NOT passed",
                ["records_arrived_within_delay"],
            ),
        }
    hive, firehose = results["hive"], results["firehose"]
    assert firehose["rows"] == hive["rows"] and len(hive["rows"]) == 6
    assert firehose["drift"] == hive["drift"]
    assert firehose["checks"] == hive["checks"]
    assert firehose["late"] == [(0,)]  # the demo's sink delivers every record within the delay
    incident = DEMO_HOURS[60]
    assert (incident, "merchant_category_not_drifted", False, "ERROR") in hive["checks"]  # not vacuous
