"""Labels and performance through Dagster: the hourly assets load the labels that arrived and compute
performance; the label-updates sensor, ticked against a real instance, requests exactly the prediction
hours those labels belong to (plus the hour reaching its coverage deadline), once; running what it asks
updates those hours, with one check result per check and hour. On the local store and on S3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.performance_assets import hour_ranges
from monitoring_pipeline_tests.conftest import HOURS
from monitoring_pipeline_tests.helpers import key, query, run_pipeline
from monitoring_pipeline_tests.stores import Stores

FRAUD = "fraud_classifier"


def test_hour_ranges() -> None:
    h = [HOURS[i] for i in (5, 3, 4, 9, 10, 20, 4)]
    assert hour_ranges(h) == [(HOURS[3], HOURS[5]), (HOURS[9], HOURS[10]), (HOURS[20], HOURS[20])]


def test_label_updates_recompute_the_hours_they_belong_to(stores: Stores) -> None:
    config = stores.config()
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def(f"{FRAUD}_label_updates")
    cursor: list[str | None] = [None]

    def tick() -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            instance=instance, repository_def=defs.get_repository_def(), cursor=cursor[0]
        )
        result = sensor.evaluate_tick(context)
        cursor[0] = result.cursor
        return result.run_requests

    first_tick = tick()  # nothing loaded yet: only the hour reaching its coverage deadline now
    now = datetime.now(UTC)
    lag = timedelta(hours=2 + 24, minutes=30)  # coverage_after_hours 24, schedule lag 30 min, 1 h margin
    due = (now - lag).replace(minute=0, second=0, microsecond=0)
    assert [r.tags["dagster/asset_partition_range_start"] for r in first_tick] == [key(due)]
    assert tick() == []  # same instant, nothing new: silent

    run_pipeline(config, FRAUD, HOURS[34], HOURS[39], instance=instance)
    tick()  # (what those labels asked for is not run here)
    # the next hours' run loads the labels that arrived in 40..47: many belong to hours before 40
    run_pipeline(config, FRAUD, HOURS[40], HOURS[47], instance=instance)
    assert len(query(config, "SELECT * FROM main.model_performance")) == 14
    requests = tick()
    belongs = {
        h
        for (h,) in query(
            config,
            "SELECT DISTINCT prediction_hour FROM main.labels WHERE prediction_hour IS NOT NULL "
            "AND arrival_hour >= ?",
            [HOURS[40]],
        )
    }
    requested = set()
    for r in requests:
        start = datetime.strptime(r.tags["dagster/asset_partition_range_start"], "%Y-%m-%d-%H:%M").replace(
            tzinfo=UTC
        )
        end = datetime.strptime(r.tags["dagster/asset_partition_range_end"], "%Y-%m-%d-%H:%M").replace(
            tzinfo=UTC
        )
        while start <= end:
            requested.add(start)
            start += timedelta(hours=1)
    assert requested == belongs  # exactly the prediction hours of the new labels
    assert min(belongs) < HOURS[40]  # labels for hours before the run's (late labels)
    assert tick() == []  # cursor moved: requested once

    job = defs.resolve_job_def(f"{FRAUD}_performance")
    for r in requests:
        assert job.execute_in_process(instance=instance, tags=r.tags).success
    got = dict(query(config, "SELECT partition_hour, label_coverage FROM main.model_performance"))
    independent = dict(
        query(
            config,
            "SELECT p.partition_hour, count(l.prediction_id) / count(*) "
            "FROM fraud_classifier.prediction_logs p "
            "LEFT JOIN (SELECT DISTINCT prediction_id FROM main.labels) l "
            "ON p.prediction_id = l.prediction_id "
            "GROUP BY 1",
        )
    )
    for hour in belongs:
        assert abs(got[hour] - independent[hour]) < 1e-12, hour
    counts = query(
        config,
        "SELECT check_name, partition_hour, count(*) FROM main.check_history "
        "WHERE asset = 'model_performance' GROUP BY 1, 2",
    )
    evaluated = {(c, h): n for c, h, n in counts}
    for hour in belongs:  # evaluated in its hourly run, and once more now
        for check in ("performance_within_margin", "label_coverage_sufficient"):
            assert evaluated[(check, hour)] == 2, (check, hour)
