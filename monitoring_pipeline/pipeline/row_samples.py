"""Rows for multivariate drift (no Dagster): each hour's uniform sample of its features, published as a
per-hour object (`row_samples`), and a reference's rows as the concatenation of its hours' samples, so
a reference fit never reads the whole history. A file reference is sampled from the file.

Why samples: PCA needs rows, not profiles, and a trailing 24-hour reference would otherwise re-read 24
hours of logs for every hour. A few thousand rows per hour fit the reference's correlations well (the
band accounts for the sample sizes, see stats/multivariate.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.stats.multivariate import Categories
from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.object_store import fetch_file
from monitoring_pipeline.storage.warehouse import Warehouse

SEED = 17  # REPEATABLE: a re-run draws the same sample of the same rows


def features_of(model: ModelConfig) -> list[str]:
    return [c.name for c in model.features]


def read_features(model: ModelConfig, path: str) -> pa.Table:
    """The features of a Parquet file (an hour's logs, a sample), every row."""
    names = features_of(model)
    schema = pq.read_schema(path)
    missing = [n for n in names if n not in schema.names]
    if missing:
        raise ValueError(f"{path}: missing feature column(s) {missing} of model {model.name!r}")
    categorical = [c.name for c in model.features if c.kind == "categorical"]
    return pq.read_table(path, columns=names, read_dictionary=categorical)  # codes, not strings


def sample_table(model: ModelConfig, rows: pa.Table) -> pa.Table:
    """A uniform sample of `sample_rows` rows (all of them when fewer), DuckDB's reservoir sampling."""
    n = model.multivariate.sample_rows
    if rows.num_rows <= n:
        return rows
    conn = duck.scratch()
    try:
        conn.register("hour_rows", rows)
        # n: a validated int from the config (a SAMPLE size takes no bound parameter)
        return conn.execute(
            f"SELECT * FROM hour_rows USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({SEED})"  # noqa: S608
        ).to_arrow_table()
    finally:
        conn.close()


def publish_sample(model: ModelConfig, hour: datetime, rows: pa.Table, warehouse: Warehouse) -> pa.Table:
    """Sample the hour's rows and publish the sample as its `row_samples` object."""
    sample = sample_table(model, rows)
    warehouse.put_object(catalog.row_samples, model.name, hour, sample)
    return sample


def hour_samples(
    model: ModelConfig, hours: Sequence[datetime], warehouse: Warehouse, known: dict[datetime, pa.Table]
) -> dict[datetime, pa.Table]:
    """The samples of `hours` that have rows: from `known` (this run's), else their `row_samples` objects,
    else (an hour profiled but never sampled: processed before multivariate drift existed, or by a run
    that skipped it) sampled now from its logs and published. Hours never profiled (not loaded, or
    stopped by a blocking check) are left out, as they are of the univariate reference. Fills `known`."""
    wanted = [h for h in hours if h not in known]
    stored = warehouse.fetch_hours(catalog.row_samples, model.name, wanted)
    for hour, path in stored.items():
        known[hour] = read_features(model, str(path))
    unsampled = [h for h in wanted if h not in stored]
    if unsampled:
        profiled = warehouse.hours_present(catalog.feature_profiles, model.name, unsampled)
        logs = warehouse.fetch_hours(catalog.prediction_logs, model.name, sorted(profiled))
        for hour, path in logs.items():
            known[hour] = publish_sample(model, hour, read_features(model, str(path)), warehouse)
    return {h: known[h] for h in hours if h in known and known[h].num_rows}


def file_sample(model: ModelConfig) -> tuple[pa.Table, np.ndarray]:
    """A file reference's sample (`sample_rows` x `file_chunks` rows), in file order, cut into
    `file_chunks` consecutive chunks that stand for its hours: whatever order the file has (often time)
    gives the chunks the variability hours would have."""
    path = model.reference.path
    assert path is not None
    cfg = model.multivariate
    names = ", ".join(duck.quote_identifier(n) for n in features_of(model))
    conn = duck.scratch()
    try:
        local = str(fetch_file(path))
        table = conn.execute(
            f"SELECT {names} FROM (SELECT * FROM read_parquet(?, file_row_number = true) "  # noqa: S608 (quoted identifiers, a validated int)
            f"USING SAMPLE reservoir({int(cfg.sample_rows * cfg.file_chunks)} ROWS) REPEATABLE ({SEED})) "
            "ORDER BY file_row_number",
            [local],
        ).to_arrow_table()
    finally:
        conn.close()
    chunks = np.arange(table.num_rows) * cfg.file_chunks // max(table.num_rows, 1)
    return table, chunks


def columns_of(model: ModelConfig, table: pa.Table) -> dict[str, np.ndarray | Categories]:
    """The features as the statistics take them: float arrays (NaN = null) and dictionary codes."""
    out: dict[str, np.ndarray | Categories] = {}
    for c in model.features:
        column = table.column(c.name)
        if c.kind == "numerical":
            out[c.name] = np.asarray(
                pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=float
            )
            continue
        if pa.types.is_dictionary(column.type):  # read as such: the Parquet dictionary pages' codes
            encoded = column.unify_dictionaries().combine_chunks()
        else:
            encoded = pc.cast(column, pa.string()).combine_chunks().dictionary_encode()
        codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        out[c.name] = Categories(codes, tuple(encoded.dictionary.to_pylist()))
    return out


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strings for categoricals however they were read (a sample drawn now or read back), doubles
    for numbers: one schema to concatenate."""
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        return pc.cast(column, pa.string())
    return pc.cast(column, pa.float64())


def stacked(tables: Mapping[datetime, pa.Table]) -> tuple[pa.Table, np.ndarray]:
    """The hours' samples as one table, and each row's hour (as an index into the hours)."""
    parts = [pa.table({n: _plain(t.column(n)) for n in t.column_names}) for t in tables.values()]
    labels = np.repeat(np.arange(len(parts)), [t.num_rows for t in parts])
    return pa.concat_tables(parts, promote_options="permissive"), labels
