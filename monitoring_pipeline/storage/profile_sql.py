"""SQL text for profiling one table of rows in a single DuckDB pass per column kind.

Column names come from the validated config and are quoted; the bucket expression is the SQL twin
of `stats.sketch.bucket_keys` (its constants are numbers we own, not input).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitoring_pipeline.stats.sketch import INV_LN_GAMMA, OFFSET, ZERO_BAND
from monitoring_pipeline.storage.duck import quote_identifier

TOP_K = 200


def bucket_sql(column: str) -> str:
    x = quote_identifier(column)
    return (
        f"CASE WHEN abs({x}) < {ZERO_BAND!r} THEN 0 "
        f"ELSE CAST(sign({x}) * (ceil(ln(abs({x})) * {INV_LN_GAMMA!r}) + {OFFSET}) AS INTEGER) END"
    )


def counts_sql(view: str, numerical: Sequence[str], categorical: Sequence[str]) -> str:
    """One row: total rows, then per numerical column (non-null, non-finite), per categorical non-null."""
    parts = ["count(*)"]
    for column in numerical:
        x = quote_identifier(column)
        parts += [f"count({x})", f"count(*) FILTER (WHERE NOT isfinite({x}))"]
    parts += [f"count({quote_identifier(c)})" for c in categorical]
    return f"SELECT {', '.join(parts)} FROM {quote_identifier(view)}"


def numerical_sql(view: str, columns: Sequence[str]) -> str:
    """Rows (column index, bucket key, n, sum, M2, min, max) for every non-empty bucket."""
    branches = [
        f"SELECT {i} AS col, {bucket_sql(c)} AS key, count(*) AS n, sum({quote_identifier(c)}) AS s, "
        f"var_pop({quote_identifier(c)}) * count(*) AS m2, min({quote_identifier(c)}) AS lo, "
        f"max({quote_identifier(c)}) AS hi FROM {quote_identifier(view)} "
        f"WHERE isfinite({quote_identifier(c)}) GROUP BY key"
        for i, c in enumerate(columns)
    ]
    return " UNION ALL ".join(branches) + " ORDER BY col, key"


def categorical_sql(view: str, columns: Sequence[str], top_k: int = TOP_K) -> str:
    """Rows (column index, value, n, distinct values, total non-null) for each column's top_k values."""
    branches = [
        f"SELECT * FROM (SELECT {i} AS col, value, n, count(*) OVER () AS distinct_values, "
        f"sum(n) OVER () AS total FROM (SELECT CAST({quote_identifier(c)} AS VARCHAR) AS value, "
        "count(*) AS n "
        f"FROM {quote_identifier(view)} WHERE {quote_identifier(c)} IS NOT NULL GROUP BY 1) "
        f"QUALIFY row_number() OVER (ORDER BY n DESC, value) <= {int(top_k)})"
        for i, c in enumerate(columns)
    ]
    return " UNION ALL ".join(branches)
