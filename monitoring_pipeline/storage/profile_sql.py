"""SQL text for profiling one table of rows in a single DuckDB pass per column kind.

Column names come from the validated config and are quoted; the bucket expression is the SQL twin
of `stats.sketch.bucket_keys` (its constants are numbers we own, not input).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitoring_pipeline.stats.sketch import INV_LN_GAMMA, OFFSET, ZERO_BAND
from monitoring_pipeline.storage.duck import quote_identifier

TOP_K = 200


NON_FINITE_KEY = 2_147_483_647  # NaN and +-inf are counted under this key, never profiled


def bucket_sql(column: str) -> str:
    x = quote_identifier(column)
    log = f"ln(greatest(abs({x}), {ZERO_BAND!r}))"
    key = f"CAST(sign({x}) * (ceil({log} * {INV_LN_GAMMA!r}) + {OFFSET}) AS INTEGER)"
    return f"CASE WHEN isfinite({x}) THEN {key} ELSE {NON_FINITE_KEY} END"


def rows_sql(view: str) -> str:
    return f"SELECT count(*) FROM {quote_identifier(view)}"


def numerical_sql(view: str, columns: Sequence[str]) -> str:
    """Rows (column index, bucket key, n, sum, M2, min, max) for every non-empty bucket of non-null
    values; non-finite values land in NON_FINITE_KEY. Nulls = rows - the column's total."""
    branches = []
    for i, c in enumerate(columns):
        x = quote_identifier(c)
        finite = f"CASE WHEN isfinite({x}) THEN {x} END"  # non-finite values only counted, never summed
        branches.append(
            f"SELECT {i} AS col, key, count(*) AS n, sum(v) AS s, var_pop(v) * count(v) AS m2, min(v) AS lo, "
            f"max(v) AS hi FROM (SELECT {bucket_sql(c)} AS key, {finite} AS v FROM {quote_identifier(view)} "
            f"WHERE {x} IS NOT NULL) GROUP BY key"
        )
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
