"""Profile an hour of rows in DuckDB and store/load profiles as Parquet rows (no Dagster here).

Table `feature_profiles`, one row per model, partition hour and monitored column: the summary
figures users query directly (rows, nulls, mean, std, quantiles...) and the mergeable state
(`buckets` for numerical columns, `categories` for categorical ones) from which any window's
profile is rebuilt without rereading raw logs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from monitoring_pipeline.config import Column
from monitoring_pipeline.stats.profiles import OTHER, QUANTILES, CategoricalProfile, NumericProfile, Profile
from monitoring_pipeline.stats.sketch import NumericSketch, empty_sketch
from monitoring_pipeline.storage import profile_sql

VIEW = "profiled_rows"
QUANTILE_COLUMNS = [f"p{round(q * 100):02d}" for q in QUANTILES]

BUCKET = pa.struct(
    [
        ("key", pa.int32()),
        ("n", pa.int64()),
        ("sum", pa.float64()),
        ("m2", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
    ]
)
CATEGORY = pa.struct([("value", pa.string()), ("n", pa.int64())])
SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("partition_hour", pa.timestamp("us", tz="UTC")),
        ("feature", pa.string()),
        ("role", pa.string()),
        ("kind", pa.string()),
        ("rows", pa.int64()),
        ("nulls", pa.int64()),
        ("non_finite", pa.int64()),
        ("count", pa.int64()),
        ("mean", pa.float64()),
        ("std", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
    ]
    + [(q, pa.float64()) for q in QUANTILE_COLUMNS]
    + [
        ("distinct_values", pa.int64()),
        ("buckets", pa.list_(BUCKET)),
        ("categories", pa.list_(CATEGORY)),
        ("computed_at", pa.timestamp("us", tz="UTC")),
    ]
)


def profile_relation(conn: Any, relation: Any, columns: Sequence[Column]) -> dict[str, Profile]:
    """Profile every column of a DuckDB relation in one query per column kind (each column is read once)."""
    conn.register(VIEW, relation)  # connection-local (duck.scratch)
    numerical = [c.name for c in columns if c.kind == "numerical"]
    categorical = [c.name for c in columns if c.kind == "categorical"]
    rows = int(conn.execute(profile_sql.rows_sql(VIEW)).fetchone()[0])
    profiles: dict[str, Profile] = {}
    if numerical:
        buckets = conn.execute(profile_sql.numerical_sql(VIEW, numerical)).fetchnumpy()
        for i, name in enumerate(numerical):
            mine = buckets["col"] == i
            finite = mine & (buckets["key"] != profile_sql.NON_FINITE_KEY)
            non_finite = int(buckets["n"][mine & ~finite].sum())
            sketch = sketch_of({k: np.asarray(v[finite]) for k, v in buckets.items()})
            profiles[name] = NumericProfile(rows, rows - sketch.total - non_finite, non_finite, sketch)
    if categorical:
        top = conn.execute(profile_sql.categorical_sql(VIEW, categorical)).fetchall()
        for i, name in enumerate(categorical):
            mine = [r for r in top if r[0] == i]
            present = int(mine[0][4]) if mine else 0
            kept = {value: int(n) for _, value, n, _, _ in mine}
            if present - sum(kept.values()):
                kept[OTHER] = present - sum(kept.values())
            distinct = int(mine[0][3]) if mine else 0
            profiles[name] = CategoricalProfile(rows, rows - present, kept, distinct)
    return profiles


def profile_parquet(conn: Any, path: Path, columns: Sequence[Column]) -> dict[str, Profile]:
    return profile_relation(conn, conn.read_parquet(str(path), hive_partitioning=False), columns)


def sketch_of(rows: Mapping[str, np.ndarray]) -> NumericSketch:
    if len(rows["key"]) == 0:
        return empty_sketch()
    return NumericSketch(
        keys=rows["key"].astype(np.int64),
        counts=rows["n"].astype(np.int64),
        sums=rows["s"].astype(float),
        m2s=np.nan_to_num(rows["m2"].astype(float)),
        mins=rows["lo"].astype(float),
        maxs=rows["hi"].astype(float),
    )


def _nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def profiles_to_table(
    model: str,
    hour: datetime,
    profiles: Mapping[str, Profile],
    roles: Mapping[str, str],
    computed_at: datetime | None = None,
) -> pa.Table:
    """Profiles as rows of the `feature_profiles` table (built column-wise: hourly tables hold
    thousands of buckets, and per-row Python dicts would cost more than the profiling itself)."""
    computed_at = computed_at or datetime.now(UTC)
    names = list(profiles)
    numeric = [profiles[n] if isinstance(profiles[n], NumericProfile) else None for n in names]
    categorical = [profiles[n] if isinstance(profiles[n], CategoricalProfile) else None for n in names]

    def stat(fn: Any) -> list[float | None]:
        return [_nan_to_none(fn(p)) if p is not None else None for p in numeric]

    quantiles = [p.quantiles() if p is not None else None for p in numeric]
    columns: dict[str, Any] = {
        "model": [model] * len(names),
        "partition_hour": [hour] * len(names),
        "feature": names,
        "role": [roles[n] for n in names],
        "kind": [profiles[n].kind for n in names],
        "rows": [profiles[n].rows for n in names],
        "nulls": [profiles[n].nulls for n in names],
        "non_finite": [p.non_finite if p is not None else None for p in numeric],
        "count": [profiles[n].count for n in names],
        "mean": stat(lambda p: p.mean),
        "std": stat(lambda p: p.std),
        "min": stat(lambda p: p.min),
        "max": stat(lambda p: p.max),
    }
    for column, q in zip(QUANTILE_COLUMNS, QUANTILES, strict=True):
        columns[column] = [_nan_to_none(qs[q]) if qs is not None else None for qs in quantiles]
    columns["distinct_values"] = [p.distinct if p is not None else None for p in categorical]
    columns["buckets"] = _buckets_array(numeric)
    columns["categories"] = _categories_array(categorical)
    columns["computed_at"] = [computed_at] * len(names)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def _list_array(lengths: list[int | None], values: pa.StructArray, value_type: pa.DataType) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum([n or 0 for n in lengths])]).astype(np.int32)
    mask = pa.array([n is None for n in lengths], type=pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=pa.list_(value_type), mask=mask)


def _buckets_array(numeric: list[NumericProfile | None]) -> pa.Array:
    sketches = [p.sketch for p in numeric if p is not None]

    def cat(attr: str, dtype: Any) -> np.ndarray:
        return (
            np.concatenate([getattr(s, attr) for s in sketches]).astype(dtype)
            if sketches
            else np.zeros(0, dtype)
        )

    values = pa.StructArray.from_arrays(
        [
            cat("keys", np.int32),
            cat("counts", np.int64),
            cat("sums", float),
            cat("m2s", float),
            cat("mins", float),
            cat("maxs", float),
        ],
        fields=list(BUCKET),
    )
    return _list_array([len(p.sketch.keys) if p is not None else None for p in numeric], values, BUCKET)


def _categories_array(categorical: list[CategoricalProfile | None]) -> pa.Array:
    present = [p for p in categorical if p is not None]
    values = pa.StructArray.from_arrays(
        [
            pa.array([v for p in present for v in p.counts], pa.string()),
            pa.array([n for p in present for n in p.counts.values()], pa.int64()),
        ],
        fields=list(CATEGORY),
    )
    return _list_array([len(p.counts) if p is not None else None for p in categorical], values, CATEGORY)


def profiles_from_table(table: pa.Table) -> dict[str, Profile]:
    """Rebuild the profiles of one (model, hour) from `feature_profiles` rows."""
    out: dict[str, Profile] = {}
    buckets, categories = (
        table.column("buckets").combine_chunks(),
        table.column("categories").combine_chunks(),
    )
    meta = table.select(["feature", "kind", "rows", "nulls", "non_finite", "distinct_values"]).to_pylist()
    for i, row in enumerate(meta):
        if row["kind"] == "numerical":
            b = buckets[i].values if buckets[i].is_valid else None
            fields = {f: np.asarray(b.field(f)) if b is not None else np.zeros(0) for f in BUCKET.names}
            sketch = sketch_of(
                {
                    "key": fields["key"],
                    "n": fields["n"],
                    "s": fields["sum"],
                    "m2": fields["m2"],
                    "lo": fields["min"],
                    "hi": fields["max"],
                }
            )
            out[row["feature"]] = NumericProfile(row["rows"], row["nulls"], row["non_finite"] or 0, sketch)
        else:
            c = categories[i].values if categories[i].is_valid else None
            counts = (
                dict(zip(c.field("value").to_pylist(), c.field("n").to_pylist(), strict=True)) if c else {}
            )
            out[row["feature"]] = CategoricalProfile(
                row["rows"], row["nulls"], counts, row["distinct_values"] or 0
            )
    return out
