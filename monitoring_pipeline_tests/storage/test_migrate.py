"""`monitoring-pipeline migrate` on a demo warehouse written by the previous release (all-Parquet results;
how it was made: fixtures/build_previous_release_warehouse.py), on the local store and on S3: every legacy
row lands in the results store once, a second run changes nothing, and the pipeline goes on from it."""

from __future__ import annotations

import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import sqlalchemy as sa

from monitoring_pipeline import checks
from monitoring_pipeline.cli import main
from monitoring_pipeline.config import load_config
from monitoring_pipeline.publish.prometheus import collect
from monitoring_pipeline.publish.reports import hour_report
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.object_store import open_store
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import write_config

FIXTURE = Path(__file__).parents[1] / "fixtures" / "previous_release_warehouse.tar.gz"
MODEL = "fraud_classifier"
LAST = datetime(2026, 11, 20, 0, tzinfo=UTC) + timedelta(hours=45)  # the fixture's last hour (demo hour 45)


def _legacy_rows(root: Path, table: str) -> list[dict]:
    return [
        r for f in sorted(root.glob(f"{table}/{MODEL}/*/*.parquet")) for r in pq.read_table(f).to_pylist()
    ]


def _upload(local: Path, root: str) -> None:
    store = open_store(root)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put_file(path, path.relative_to(local).as_posix())


def _count(wh: Warehouse, table: sa.Table) -> int:
    return len(wh.results.rows(sa.select(*table.primary_key.columns)))


def test_migrate_a_previous_release_warehouse(
    tmp_path: Path, warehouse_root: str, demo_logs: Path, capsys
) -> None:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path / "old", filter="data")
    old = tmp_path / "old" / "warehouse"
    if warehouse_root.startswith("s3://"):
        _upload(old, warehouse_root)
    else:
        warehouse_root = str(old)
    config = load_config(write_config(tmp_path, str(demo_logs), data=warehouse_root))
    assert main(["--config", str(config.path), "migrate"]) == 0
    assert "check_history: 100 row(s) upserted" in capsys.readouterr().out
    wh = Warehouse.open(config.warehouse)
    evaluations = _legacy_rows(old, "check_results")
    assert _count(wh, catalog.check_history) == len(evaluations) == 100
    assert _count(wh, catalog.check_results) == len(
        {(r["check_name"], r["partition_hour"]) for r in evaluations}
    )
    for table in ("drift_metrics", "drift_summary", "model_performance", "model_performance_history"):
        assert _count(wh, catalog.metadata.tables[table]) == len(_legacy_rows(old, table)), table
    alerts = _legacy_rows(old, "alerts")
    assert _count(wh, catalog.alerts) == len({(a["alert_id"], a["sink"]) for a in alerts}) > 0
    facts = {r["partition_hour"]: r["rows"] for r in wh.results.rows(sa.select(catalog.hour_facts))}
    logs = sorted(old.glob(f"prediction_logs/{MODEL}/*/*.parquet"))
    assert sum(facts.values()) == sum(pq.read_metadata(f).num_rows for f in logs) and len(facts) == len(logs)
    # the labels' lookups, from the labels objects, matched by id as a load of this release does: the same
    # labels found as the previous release found, each (prediction hour, arrival hour) pair linked
    labels = sorted(old.glob(f"labels/{MODEL}/*/*.parquet"))
    legacy_labels = [r for f in labels for r in pq.read_table(f).to_pylist()]
    label_facts = wh.results.rows(sa.select(catalog.label_facts))
    assert len(label_facts) == len(labels) > 0
    assert sum(f["rows"] for f in label_facts) == len(legacy_labels) > 0
    matched = [r for r in legacy_labels if r["prediction_hour"] is not None]
    assert sum(f["matched"] for f in label_facts) == len(matched) > 0
    links = {
        (r["partition_hour"], r["arrival_hour"]) for r in wh.results.rows(sa.select(catalog.label_links))
    }
    assert links >= {(r["prediction_hour"], r["arrival_hour"]) for r in matched}
    summary = wh.results.rows(
        sa.select(catalog.drift_summary).where(catalog.drift_summary.c.partition_hour == LAST)
    )
    [legacy] = [r for r in _legacy_rows(old, "drift_summary") if r["partition_hour"] == LAST]
    assert summary[0]["drift_share"] == legacy["drift_share"]
    assert summary[0]["drifted_features"] == str(legacy["drifted_features"]).replace("'", '"')
    assert main(["--config", str(config.path), "migrate"]) == 0  # again: nothing new, nothing doubled
    assert _count(wh, catalog.check_history) == 100
    # the pipeline reads the migrated warehouse as its own: report, metrics, a check over earlier days
    model = config.model(MODEL)
    assert "drift report" in hour_report(model, LAST, wh)
    samples = {(s.name, s.labels.get("check")): s.value for s in collect(config, wh)}
    assert samples[("last_partition_timestamp_seconds", None)] == LAST.timestamp()
    assert ("check_passed", "hour_is_not_empty") in samples
    assert checks.evaluate(model, "hour_is_not_empty", LAST, wh).observed == facts[LAST]
