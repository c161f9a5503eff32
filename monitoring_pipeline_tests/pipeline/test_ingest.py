"""Ingest's two ways of writing an hour: objects whose columns already have the canonical warehouse types
are copied with Arrow, any other is cast by DuckDB. The copy must be the partition the cast gives: the
same rows in the same order, the same types for pyarrow and DuckDB. On the local store and on S3."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_pipeline.checks import schema_matches
from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline.ingest import ROW_GROUP_ROWS, IngestError, ingest_hour, write_partition
from monitoring_pipeline.storage import catalog, duck, layout
from monitoring_pipeline.storage.object_store import open_store
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.stores import Stores

HOUR = datetime(2026, 3, 1, 7, tzinfo=UTC)


def model(logs: str) -> ModelConfig:
    return ModelConfig(
        name="shop",
        task="classification",
        logs=logs,
        timestamp_column="ts",
        id_column="id",
        features={"amount": "numerical", "country": "categorical"},
        predictions={"score": "numerical"},
        partitions_start=HOUR - timedelta(days=1),
    )


def frame(rng: np.random.Generator, n: int, start: int) -> pd.DataFrame:
    amount = rng.lognormal(3, 1, n)
    amount[rng.random(n) < 0.05] = np.nan
    country = pd.Series(rng.choice(["fr", "de", "it"], n), dtype="str").where(rng.random(n) > 0.03)
    return pd.DataFrame(
        {
            "extra": rng.random(n),  # not kept
            "ts": pd.Timestamp(HOUR) + pd.to_timedelta(rng.integers(0, 3_600_000_000, n), unit="us"),
            "id": pd.Series(np.arange(start, start + n).astype(str), dtype="str"),
            "score": rng.random(n),
            "country": country,
            "amount": amount,
        }
    )


def put(stores: Stores, logs: str, name: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=40_000)
    stores.put(logs, layout.hour_prefix("shop", HOUR) + name, buffer.getvalue())


def partition(stores: Stores, wh: Warehouse) -> bytes:
    return stores.read(wh.tables_root, catalog.prediction_logs.key("shop", HOUR))


def cast_by_duckdb(logs: str, m: ModelConfig, target: Path) -> None:
    """The same objects through DuckDB's CAST (the path every non-canonical hour takes)."""
    store = open_store(logs)
    objects = [o for o in store.list(layout.hour_prefix("shop", HOUR)) if layout.is_data_object(o.key)]
    sources = [(o.uri, p) for o, p in zip(objects, store.fetch(objects), strict=True)]
    with duck.scratch() as conn:
        write_partition(conn, m, HOUR, sources, target)


def test_canonical_objects_are_copied_into_the_partition_the_cast_gives(
    stores: Stores, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    logs = f"{stores.root}/logs"
    put(stores, logs, "replica-0.parquet", pa.Table.from_pandas(frame(rng, 150_000, 0), preserve_index=False))
    put(
        stores,
        logs,
        "replica-1.parquet",
        pa.Table.from_pandas(frame(rng, 90_000, 150_000), preserve_index=False),
    )
    m, wh = model(logs), Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    result = ingest_hour(m, HOUR, open_store(logs), wh)
    assert not result.cast and result.rows == 240_000
    copied = tmp_path / "copied.parquet"
    copied.write_bytes(partition(stores, wh))
    cast_by_duckdb(logs, m, tmp_path / "cast.parquet")
    ours, reference = pq.read_table(copied), pq.read_table(tmp_path / "cast.parquet")
    assert ours.schema.equals(reference.schema)  # no Arrow schema stored: the types Parquet gives
    assert ours.equals(reference)  # the same rows, in the same order, nulls and NaNs included
    assert ours.column("amount").null_count > 0 and ours.column("country").null_count > 0
    assert set(ours.column("source_object").to_pylist()) == set(result.files)
    with duck.scratch() as conn:
        describe = [conn.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(p)]).fetchall()
                    for p in (copied, tmp_path / "cast.parquet")]  # fmt: skip
    assert describe[0] == describe[1]
    meta = pq.ParquetFile(copied).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [ROW_GROUP_ROWS, 150_000 - ROW_GROUP_ROWS, 90_000]  # DuckDB's row-group size
    assert schema_matches(m, HOUR, wh).passed

    put(stores, logs, "replica-1.parquet", pa.Table.from_pandas(frame(rng, 1_000, 9), preserve_index=False))
    again = ingest_hour(m, HOUR, open_store(logs), wh)  # a re-run replaces, never duplicates
    assert again.rows == 151_000 and pq.read_table(io.BytesIO(partition(stores, wh))).num_rows == 151_000


def test_a_column_of_another_type_takes_the_cast(stores: Stores, tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    logs = f"{stores.root}/logs"
    canonical = frame(rng, 5_000, 0)
    put(stores, logs, "replica-0.parquet", pa.Table.from_pandas(canonical, preserve_index=False))
    counts = frame(rng, 5_000, 5_000).assign(amount=lambda f: rng.integers(0, 50, len(f)))  # integers
    put(stores, logs, "replica-1.parquet", pa.Table.from_pandas(counts, preserve_index=False))
    m, wh = model(logs), Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    result = ingest_hour(m, HOUR, open_store(logs), wh)
    assert result.cast and result.rows == 10_000
    loaded = pq.read_table(io.BytesIO(partition(stores, wh)))
    assert loaded.schema.field("amount").type == pa.float64() and schema_matches(m, HOUR, wh).passed
    assert loaded.column("amount").to_pylist()[5_000:] == [float(v) for v in counts["amount"]]


def test_a_canonical_object_unreadable_past_its_footer_fails_naming_it(
    stores: Stores, tmp_path: Path
) -> None:
    """Validation reads footers only; the copy's read error names the object, and nothing is published."""
    rng = np.random.default_rng(7)
    logs = f"{stores.root}/logs"
    buffer = io.BytesIO()
    pq.write_table(
        pa.Table.from_pandas(frame(rng, 20_000, 0), preserve_index=False), buffer, compression="zstd"
    )
    data = bytearray(buffer.getvalue())
    chunk = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0).column(1)  # ts, a kept column
    assert chunk.path_in_schema == "ts"
    start = chunk.data_page_offset + 64
    data[start : start + 2_000] = bytes(2_000)  # its page's bytes, the footer intact
    uri = stores.put(logs, layout.hour_prefix("shop", HOUR) + "replica-0.parquet", bytes(data))
    m, wh = model(logs), Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    with pytest.raises(IngestError, match="cannot read the rows of " + uri.replace(".", r"\.")):
        ingest_hour(m, HOUR, open_store(logs), wh)
    assert open_store(stores.data).head(catalog.prediction_logs.key("shop", HOUR)) is None
