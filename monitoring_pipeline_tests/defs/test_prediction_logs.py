"""`<model>/prediction_logs` materialized in process against a real local store and DuckDB."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline_tests.conftest import HOURS, source_rows, write_config
from monitoring_pipeline_tests.helpers import copy_hour, materialize_logs, partition_files, warehouse_rows

FRAUD = "fraud_classifier"


def metadata(result, model: str = FRAUD) -> dict:
    [mat] = result.asset_materializations_for_node(f"{model}__prediction_logs")[:1]
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.mark.parametrize("model", [FRAUD, "delivery_time_regressor"])
def test_exact_rows_and_a_rerun_replaces(config: MonitorsConfig, demo_logs: Path, model: str) -> None:
    hour = HOURS[40]
    expected = source_rows(demo_logs, model, hour)
    assert expected > 1000
    first = materialize_logs(config, model, hour)
    assert warehouse_rows(config, model) == {hour: expected}
    meta = metadata(first, model)
    assert meta["rows"] == meta["dagster/row_count"] == expected
    assert meta["files"] == 2 and meta["empty_hours"] == 0
    folder = demo_logs / model / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    assert meta["bytes"] == sum(p.stat().st_size for p in folder.glob("*.parquet"))
    assert meta["columns"][:2] == ["event_time", "prediction_id"]

    materialize_logs(config, model, hour)
    assert warehouse_rows(config, model) == {hour: expected}
    assert len(partition_files(config, model)) == 1


def test_range_run_loads_each_hour_separately(config: MonitorsConfig, demo_logs: Path) -> None:
    result = materialize_logs(config, FRAUD, HOURS[2], HOURS[5])
    expected = {h: source_rows(demo_logs, FRAUD, h) for h in HOURS[2:6]}
    assert warehouse_rows(config, FRAUD) == expected
    assert metadata(result)["rows_by_hour"] == {f"{h:%Y-%m-%d-%H:00}": n for h, n in expected.items()}


def test_values_are_loaded_unchanged(config: MonitorsConfig, demo_logs: Path) -> None:
    hour = HOURS[3]
    materialize_logs(config, FRAUD, hour)
    folder = demo_logs / FRAUD / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    source = pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))])
    [loaded_file] = partition_files(config, FRAUD)
    loaded = pd.read_parquet(loaded_file)
    assert sorted(loaded["prediction_id"]) == sorted(source["prediction_id"])
    merged = source.merge(loaded, on="prediction_id", suffixes=("_src", "_wh"))
    assert (merged["amount_src"] == merged["amount_wh"]).all()
    assert (merged["n_transactions_24h_src"].astype(float) == merged["n_transactions_24h_wh"]).all()
    assert (merged["event_time_src"] == merged["event_time_wh"]).all()
    assert loaded["partition_hour"].nunique() == 1 and loaded["partition_hour"].iloc[0] == pd.Timestamp(hour)
    assert loaded["source_object"].str.endswith(".parquet").all()


def test_empty_hour_materializes_as_empty_partition(config: MonitorsConfig) -> None:
    result = materialize_logs(config, FRAUD, HOURS[30])  # the demo's empty hour: two zero-row files
    meta = metadata(result)
    assert (meta["rows"], meta["files"], meta["empty_hours"]) == (0, 2, 1)
    assert "empty" in meta["summary"]
    assert warehouse_rows(config, FRAUD) == {}
    assert len(partition_files(config, FRAUD)) == 1  # an empty partition file with the full schema


def test_missing_hour_materializes_as_empty_partition(config: MonitorsConfig) -> None:
    result = materialize_logs(config, FRAUD, HOURS[31])  # the demo's missing hour: no objects at all
    meta = metadata(result)
    assert (meta["rows"], meta["files"], meta["empty_hours"]) == (0, 0, 1)
    assert "no objects" in meta["summary"]


def test_an_hour_that_became_empty_loses_its_old_rows(tmp_path: Path, demo_logs: Path) -> None:
    logs = tmp_path / "logs"
    folder = copy_hour(demo_logs, logs, FRAUD, HOURS[1])
    config = load_config(write_config(tmp_path, str(logs)))
    materialize_logs(config, FRAUD, HOURS[1])
    assert warehouse_rows(config, FRAUD) == {HOURS[1]: source_rows(demo_logs, FRAUD, HOURS[1])}
    for path in folder.glob("*.parquet"):
        path.unlink()
    materialize_logs(config, FRAUD, HOURS[1])
    assert warehouse_rows(config, FRAUD) == {}


def test_a_late_object_is_included_on_rerun(tmp_path: Path, demo_logs: Path) -> None:
    logs = tmp_path / "logs"
    folder = copy_hour(demo_logs, logs, FRAUD, HOURS[1])
    config = load_config(write_config(tmp_path, str(logs)))
    materialize_logs(config, FRAUD, HOURS[1])
    late = pq.read_table(folder / "replica-0.parquet").slice(0, 100)
    late = late.set_column(1, "prediction_id", pa.array([f"late-{i}" for i in range(100)]))
    pq.write_table(late, folder / "replica-9.parquet")
    materialize_logs(config, FRAUD, HOURS[1])
    assert warehouse_rows(config, FRAUD) == {HOURS[1]: source_rows(demo_logs, FRAUD, HOURS[1]) + 100}


# Bad input: each case fails the run naming the object and the column, and keeps the previous data.


def _bad_store(tmp_path: Path, demo_logs: Path) -> tuple[MonitorsConfig, Path, int]:
    logs = tmp_path / "logs"
    folder = copy_hour(demo_logs, logs, FRAUD, HOURS[1])
    config = load_config(write_config(tmp_path, str(logs)))
    materialize_logs(config, FRAUD, HOURS[1])
    return config, folder, source_rows(demo_logs, FRAUD, HOURS[1])


def _fails_keeping_old_rows(config: MonitorsConfig, good_rows: int, *expected: str) -> None:
    before = [p.stat().st_mtime_ns for p in partition_files(config, FRAUD)]
    with pytest.raises(Exception) as info:
        materialize_logs(config, FRAUD, HOURS[1])
    for text in expected:
        assert text in str(info.value), str(info.value)
    assert warehouse_rows(config, FRAUD) == {HOURS[1]: good_rows}
    assert [p.stat().st_mtime_ns for p in partition_files(config, FRAUD)] == before


def test_unreadable_object_fails_naming_it(tmp_path: Path, demo_logs: Path) -> None:
    config, folder, rows = _bad_store(tmp_path, demo_logs)
    (folder / "replica-5.parquet").write_bytes(b"this is not parquet" * 10)
    _fails_keeping_old_rows(config, rows, f"object {folder / 'replica-5.parquet'}", "not a readable Parquet")


def test_truncated_object_fails_naming_it(tmp_path: Path, demo_logs: Path) -> None:
    config, folder, rows = _bad_store(tmp_path, demo_logs)
    data = (folder / "replica-0.parquet").read_bytes()
    (folder / "replica-5.parquet").write_bytes(data[: len(data) // 2])
    _fails_keeping_old_rows(config, rows, str(folder / "replica-5.parquet"))


def _rewrite(folder: Path, change: callable) -> Path:
    frame = pd.read_parquet(folder / "replica-0.parquet")
    target = folder / "replica-7.parquet"
    change(frame).to_parquet(target, index=False)
    return target


def test_wrong_column_type_fails_naming_object_and_column(tmp_path: Path, demo_logs: Path) -> None:
    config, folder, rows = _bad_store(tmp_path, demo_logs)
    bad = _rewrite(folder, lambda f: f.assign(amount=f["amount"].map(lambda v: f"{v} EUR")))
    _fails_keeping_old_rows(config, rows, f"object {bad}", "column 'amount' has type VARCHAR", "numerical")


def test_missing_column_fails_naming_object_and_column(tmp_path: Path, demo_logs: Path) -> None:
    config, folder, rows = _bad_store(tmp_path, demo_logs)
    bad = _rewrite(folder, lambda f: f.drop(columns=["country"]))
    _fails_keeping_old_rows(config, rows, f"object {bad}", "missing column 'country'")


def test_extra_columns_and_other_column_order_are_accepted(tmp_path: Path, demo_logs: Path) -> None:
    config, folder, rows = _bad_store(tmp_path, demo_logs)
    _rewrite(folder, lambda f: f.assign(experiment="b")[list(reversed([*f.columns, "experiment"]))])
    materialize_logs(config, FRAUD, HOURS[1])
    assert warehouse_rows(config, FRAUD) == {
        HOURS[1]: rows + len(pd.read_parquet(folder / "replica-0.parquet"))
    }
