"""Retention on the local store and on S3: the daily job deletes per-hour objects and result rows older
than `warehouse.retention_days`, keeps everything newer, says in its metadata what it freed, and a second
run finds nothing to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from monitoring_pipeline import checks
from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.pipeline.retention import ID_MARGIN_HOURS, cutoff_of
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import write_config

MODEL = "fraud_classifier"


def _stored_hours(wh: Warehouse, hours: list[datetime]) -> list[datetime]:
    return sorted(wh.hours_present(catalog.feature_profiles, MODEL, hours))


def test_the_daily_job_deletes_only_what_is_older(
    tmp_path: Path, warehouse_root: str, demo_logs: Path
) -> None:
    config = load_config(write_config(tmp_path, str(demo_logs), data=warehouse_root, labels=""))
    wh = Warehouse.open(config.warehouse)
    cutoff = cutoff_of(config, datetime.now(UTC))
    old = [cutoff - timedelta(hours=k) for k in (1, 30, 24 * 6)]
    kept = [cutoff, cutoff + timedelta(hours=5)]
    sizes = {}
    for hour in old + kept:
        data = pa.table({"partition_hour": pa.array([hour]), "v": pa.array([1.0])})
        uri = wh.put_object(catalog.feature_profiles, MODEL, hour, data)
        sizes[hour] = wh.store.head(catalog.feature_profiles.key(MODEL, hour)).size
        wh.results.upsert(catalog.hour_facts, [{"model": MODEL, "partition_hour": hour, "rows": 1}])
        outcome = checks.CheckOutcome("hour_is_not_empty", hour, True, "ERROR", 1, 1, "1 row")
        checks.record(wh, MODEL, "prediction_logs", "hour_is_not_empty", f"run-{hour:%d%H}", [outcome])
        assert uri.startswith(warehouse_root)
    job = build_definitions(config).get_job_def("retention")
    result = job.execute_in_process()
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    meta = {k: v.value for k, v in output.event_specific_data.metadata.items()}
    assert meta["objects_deleted"] == len(old)
    assert meta["bytes_freed"] == sum(sizes[h] for h in old)
    assert meta["rows_deleted_per_table"] == {
        t.name: (len(old) if t.name in ("hour_facts", "check_results", "check_history") else 0)
        for t in catalog.RESULT_TABLES
        if "partition_hour" in t.c
    }
    assert _stored_hours(wh, old + kept) == kept
    facts = wh.results.rows(sa.select(catalog.hour_facts.c.partition_hour).order_by("partition_hour"))
    assert [r["partition_hour"] for r in facts] == kept
    again = job.execute_in_process()
    [output] = [e for e in again.all_events if e.event_type_value == "STEP_OUTPUT"]
    assert (output.event_specific_data.metadata["rows_deleted"].value, _stored_hours(wh, kept)) == (0, kept)


def test_prediction_id_fingerprints_are_kept_only_for_the_labels_window(
    tmp_path: Path, demo_logs: Path
) -> None:
    """They serve the labels' id lookup over `max_delay_hours` only (an older hour is rebuilt from its logs
    when a backfill needs it), so the daily job keeps them a day past that window, not `retention_days`."""
    config = load_config(write_config(tmp_path, str(demo_logs)))
    wh = Warehouse.open(config.warehouse)
    window = config.model(MODEL).labels.max_delay_hours + ID_MARGIN_HOURS
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # the job's clock runs on: margins
    hours = [now - timedelta(hours=k) for k in (0, window - 2, window + 1, window + 200)]
    rows = [{"model": MODEL, "partition_hour": h, "ids": 0, "fingerprints": b""} for h in hours]
    wh.results.upsert(catalog.prediction_ids, rows)
    build_definitions(config).get_job_def("retention").execute_in_process()
    kept = wh.results.hour_rows(catalog.prediction_ids, MODEL, hours, "partition_hour")
    assert [r["partition_hour"] for r in kept] == sorted(hours[:2])
