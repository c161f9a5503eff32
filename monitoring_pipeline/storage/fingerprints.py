"""Prediction-id fingerprints: the labels' id -> prediction-hour lookup without reading the hours' logs.

An id's fingerprint is DuckDB's `md5_number_lower` of the id as text: 64 bits of MD5, stable across DuckDB
versions and machines. Two different ids share one with probability 2^-64 per pair (one id in 2e13 would be
misattributed against a million-id hour), far below any label feed's own error. An hour's fingerprints are
stored sorted and distinct, packed as little-endian uint64 (8 bytes per id), in `catalog.prediction_ids`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from monitoring_pipeline.storage import duck

DTYPE = np.dtype("<u8")


def sql(expression: str) -> str:
    """The fingerprint of a SQL expression (any id type: cast to text first, as labels are joined)."""
    return f"md5_number_lower(CAST({expression} AS VARCHAR))"


def of_file(conn: Any, path: Path, id_column: str) -> np.ndarray:
    """Sorted distinct fingerprints of a Parquet file's non-null ids."""
    column = duck.quote_identifier(id_column)
    rows = conn.execute(
        f"SELECT DISTINCT {sql(column)} AS f FROM read_parquet(?, hive_partitioning = false) "  # noqa: S608 (a quoted identifier)
        f"WHERE {column} IS NOT NULL ORDER BY 1",
        [str(path)],
    ).fetchnumpy()
    return np.asarray(rows["f"], dtype=DTYPE)


def probe(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(fingerprints, known) of a column of fingerprints with nulls (a null id): 0 where unknown."""
    values = np.asarray(column.fill_null(0).to_numpy(), dtype=DTYPE)
    return values, column.is_valid().to_numpy(zero_copy_only=False)


def pack(fingerprints: np.ndarray) -> bytes:
    return np.unique(np.asarray(fingerprints, dtype=DTYPE)).tobytes()


def unpack(blob: bytes | None) -> np.ndarray:
    return np.frombuffer(blob or b"", dtype=DTYPE)


def contains(stored: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """For each probe fingerprint, whether the sorted `stored` array holds it."""
    if not len(stored):
        return np.zeros(len(probe), dtype=bool)
    at = np.minimum(np.searchsorted(stored, probe), len(stored) - 1)
    return stored[at] == probe
