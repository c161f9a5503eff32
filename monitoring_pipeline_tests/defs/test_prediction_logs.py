"""`<model>/prediction_logs` materialized in process against a real store and DuckDB: every test on the
local store and on S3 (moto's server, credentials enforced), through the `stores` fixture."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.storage import layout
from monitoring_pipeline_tests.conftest import HOURS
from monitoring_pipeline_tests.helpers import materialize_logs, warehouse_rows
from monitoring_pipeline_tests.stores import Stores

pytestmark = pytest.mark.heavy(160)

FRAUD = "fraud_classifier"


@pytest.fixture
def config(stores: Stores) -> MonitorsConfig:
    return stores.config()


def frame_of(stores: Stores, location: str, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(stores.read(location, key)))


def published(stores: Stores, config: MonitorsConfig) -> list[tuple]:
    """What a reader sees of the published partitions: key, size, time and entity tag."""
    return [(o.key, o.size, o.modified, o.etag) for o in stores.partitions(config, FRAUD)]


def metadata(result, model: str = FRAUD) -> dict:
    [mat] = result.asset_materializations_for_node(f"{model}__prediction_logs")[:1]
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.mark.parametrize("model", [FRAUD, "delivery_time_regressor"])
def test_exact_rows_and_a_rerun_replaces(config: MonitorsConfig, stores: Stores, model: str) -> None:
    hour = HOURS[40]
    expected = stores.source_rows(stores.demo, model, hour)
    assert expected > 1000
    first = materialize_logs(config, model, hour)
    assert warehouse_rows(config, model) == {hour: expected}
    meta = metadata(first, model)
    assert meta["rows"] == meta["dagster/row_count"] == expected
    assert meta["files"] == 2 and meta["empty_hours"] == 0
    assert meta["bytes"] == sum(o.size for o in stores.hour_objects(stores.demo, model, hour))
    assert meta["columns"][:2] == ["event_time", "prediction_id"]

    materialize_logs(config, model, hour)
    assert warehouse_rows(config, model) == {hour: expected}
    assert len(stores.partitions(config, model)) == 1


def test_range_run_loads_each_hour_separately(config: MonitorsConfig, stores: Stores) -> None:
    result = materialize_logs(config, FRAUD, HOURS[2], HOURS[5])
    expected = {h: stores.source_rows(stores.demo, FRAUD, h) for h in HOURS[2:6]}
    assert warehouse_rows(config, FRAUD) == expected
    assert metadata(result)["rows_by_hour"] == {f"{h:%Y-%m-%d-%H:00}": n for h, n in expected.items()}


def test_values_are_loaded_unchanged(config: MonitorsConfig, stores: Stores) -> None:
    hour = HOURS[3]
    materialize_logs(config, FRAUD, hour)
    objects = stores.hour_objects(stores.demo, FRAUD, hour)
    source = pd.concat([frame_of(stores, stores.demo, o.key) for o in objects])
    [partition] = stores.partitions(config, FRAUD)
    loaded = frame_of(stores, config.warehouse.tables_root, partition.key)
    assert sorted(loaded["prediction_id"]) == sorted(source["prediction_id"])
    merged = source.merge(loaded, on="prediction_id", suffixes=("_src", "_wh"))
    assert (merged["amount_src"] == merged["amount_wh"]).all()
    assert (merged["n_transactions_24h_src"].astype(float) == merged["n_transactions_24h_wh"]).all()
    assert (merged["event_time_src"] == merged["event_time_wh"]).all()
    assert loaded["partition_hour"].nunique() == 1 and loaded["partition_hour"].iloc[0] == pd.Timestamp(hour)
    assert set(loaded["source_object"]) == {o.uri for o in objects}


def test_empty_hour_materializes_as_empty_partition(config: MonitorsConfig, stores: Stores) -> None:
    result = materialize_logs(config, FRAUD, HOURS[30])  # the demo's empty hour: two zero-row files
    meta = metadata(result)
    assert (meta["rows"], meta["files"], meta["empty_hours"]) == (0, 2, 1)
    assert "empty" in meta["summary"]
    assert warehouse_rows(config, FRAUD) == {}
    assert len(stores.partitions(config, FRAUD)) == 1  # an empty partition object with the full schema


def test_missing_hour_materializes_as_empty_partition(config: MonitorsConfig) -> None:
    result = materialize_logs(config, FRAUD, HOURS[31])  # the demo's missing hour: no objects at all
    meta = metadata(result)
    assert (meta["rows"], meta["files"], meta["empty_hours"]) == (0, 0, 1)
    assert "no objects" in meta["summary"]


def test_an_hour_that_became_empty_loses_its_old_rows(stores: Stores) -> None:
    logs = stores.copy_hour(FRAUD, HOURS[1])
    config = stores.config(logs)
    materialize_logs(config, FRAUD, HOURS[1])
    assert warehouse_rows(config, FRAUD) == {HOURS[1]: stores.source_rows(stores.demo, FRAUD, HOURS[1])}
    for obj in stores.hour_objects(logs, FRAUD, HOURS[1]):
        stores.delete(logs, obj.key)
    materialize_logs(config, FRAUD, HOURS[1])
    assert warehouse_rows(config, FRAUD) == {}


def test_a_late_object_is_included_on_rerun(stores: Stores) -> None:
    logs = stores.copy_hour(FRAUD, HOURS[1])
    config = stores.config(logs)
    materialize_logs(config, FRAUD, HOURS[1])
    folder = layout.hour_prefix(FRAUD, HOURS[1])
    late = pq.read_table(io.BytesIO(stores.read(logs, folder + "replica-0.parquet"))).slice(0, 100)
    late = late.set_column(1, "prediction_id", pa.array([f"late-{i}" for i in range(100)]))
    stores.put(logs, folder + "replica-9.parquet", _parquet(late))
    materialize_logs(config, FRAUD, HOURS[1])
    assert warehouse_rows(config, FRAUD) == {HOURS[1]: stores.source_rows(stores.demo, FRAUD, HOURS[1]) + 100}


# Bad input: each case fails the run naming the object and the column, and keeps the previous data.


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _bad_store(stores: Stores) -> tuple[MonitorsConfig, str, int]:
    """A copy of one demo hour, loaded; (config, the copy's logs location, the hour's rows)."""
    logs = stores.copy_hour(FRAUD, HOURS[1])
    config = stores.config(logs)
    materialize_logs(config, FRAUD, HOURS[1])
    return config, logs, stores.source_rows(stores.demo, FRAUD, HOURS[1])


def _fails_keeping_old_rows(stores: Stores, config: MonitorsConfig, good_rows: int, *expected: str) -> None:
    before = published(stores, config)
    with pytest.raises(Exception) as info:
        materialize_logs(config, FRAUD, HOURS[1])
    for text in expected:
        assert text in str(info.value), str(info.value)
    assert warehouse_rows(config, FRAUD) == {HOURS[1]: good_rows}
    assert published(stores, config) == before


FOLDER = layout.hour_prefix(FRAUD, HOURS[1])


def test_unreadable_object_fails_naming_it(stores: Stores) -> None:
    config, logs, rows = _bad_store(stores)
    uri = stores.put(logs, FOLDER + "replica-5.parquet", b"this is not parquet" * 10)
    _fails_keeping_old_rows(stores, config, rows, f"object {uri}", "not a readable Parquet")


def test_truncated_object_fails_naming_it(stores: Stores) -> None:
    config, logs, rows = _bad_store(stores)
    data = stores.read(logs, FOLDER + "replica-0.parquet")
    uri = stores.put(logs, FOLDER + "replica-5.parquet", data[: len(data) // 2])
    _fails_keeping_old_rows(stores, config, rows, uri)


def _rewrite(stores: Stores, logs: str, change: callable) -> str:
    frame = frame_of(stores, logs, FOLDER + "replica-0.parquet")
    return stores.put(
        logs,
        FOLDER + "replica-7.parquet",
        _parquet(pa.Table.from_pandas(change(frame), preserve_index=False)),
    )


def test_wrong_column_type_fails_naming_object_and_column(stores: Stores) -> None:
    config, logs, rows = _bad_store(stores)
    bad = _rewrite(stores, logs, lambda f: f.assign(amount=f["amount"].map(lambda v: f"{v} EUR")))
    expected = (f"object {bad}", "column 'amount' has type VARCHAR", "numerical")
    _fails_keeping_old_rows(stores, config, rows, *expected)


def test_missing_column_fails_naming_object_and_column(stores: Stores) -> None:
    config, logs, rows = _bad_store(stores)
    bad = _rewrite(stores, logs, lambda f: f.drop(columns=["country"]))
    _fails_keeping_old_rows(stores, config, rows, f"object {bad}", "missing column 'country'")


def test_extra_columns_and_other_column_order_are_accepted(stores: Stores) -> None:
    config, logs, rows = _bad_store(stores)
    _rewrite(stores, logs, lambda f: f.assign(experiment="b")[list(reversed([*f.columns, "experiment"]))])
    materialize_logs(config, FRAUD, HOURS[1])
    extra = len(frame_of(stores, logs, FOLDER + "replica-0.parquet"))
    assert warehouse_rows(config, FRAUD) == {HOURS[1]: rows + extra}
