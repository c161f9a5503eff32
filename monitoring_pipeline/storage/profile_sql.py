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


# ---- segments: the same profiles per value of up to two segment columns, in the same single pass -------
# A segment column's kept values are bound as list parameters ($1, $2): they are data, never SQL text. Each
# row's segment is a small integer (hashing it is cheaper than hashing the value): `seg` = the kept value's
# position (1..k) in the first segment column's list, 0 for the rest of its values and its nulls; SEG_STRIDE
# plus that for the second; WHOLE for the whole population. GROUPING SETS aggregate every set in one scan.

SEGMENT_ALIASES = ("__segment_0", "__segment_1")
SEG_STRIDE = 1000
WHOLE = -1


def segment_values_sql(view: str, columns: Sequence[str], top_k: int) -> str:
    """Rows (segment column index, value, n) of each segment column's top_k values by rows."""
    branches = [
        f"SELECT {i} AS j, CAST({quote_identifier(c)} AS VARCHAR) AS value, count(*) AS n "
        f"FROM {quote_identifier(view)} WHERE {quote_identifier(c)} IS NOT NULL GROUP BY 2"
        for i, c in enumerate(columns)
    ]
    return (
        f"SELECT j, value, n FROM ({' UNION ALL '.join(branches)}) "
        f"QUALIFY row_number() OVER (PARTITION BY j ORDER BY n DESC, value) <= {int(top_k)} "
        "ORDER BY j, n DESC, value"
    )


def _codes(columns: Sequence[str]) -> str:
    """Each segment column's code: its value's position in the kept list ($1, $2), 0 outside it."""
    return ", ".join(
        f"coalesce(list_position(${i + 1}, CAST({quote_identifier(c)} AS VARCHAR)), 0)::UTINYINT "
        f"AS {SEGMENT_ALIASES[i]}"
        for i, c in enumerate(columns)
    )


def _seg(columns: Sequence[str]) -> str:
    """The segment code of a grouping-set row (WHOLE: the whole population's set)."""
    whens = " ".join(
        f"WHEN GROUPING({SEGMENT_ALIASES[i]}) = 0 THEN {SEGMENT_ALIASES[i]} + {i * SEG_STRIDE}"
        for i in range(len(columns))
    )
    return f"CASE {whens} ELSE {WHOLE} END"


def _sets(columns: Sequence[str], key: str) -> str:
    sets = [f"({SEGMENT_ALIASES[i]}, {key})" for i in range(len(columns))]
    return f"GROUPING SETS ({', '.join(sets)})"


def segmented_numerical_sql(view: str, columns: Sequence[str], segments: Sequence[str]) -> str:
    """numerical_sql's rows with a leading segment code `seg`, for each segment column's segments only (the
    whole population is their merge: its first column's segments hold every row once), ordered by seg,
    column, key."""
    branches = []
    for i, c in enumerate(columns):
        x = quote_identifier(c)
        finite = f"CASE WHEN isfinite({x}) THEN {x} END"
        branches.append(
            f"SELECT {_seg(segments)} AS seg, {i} AS col, key, count(*) AS n, sum(v) AS s, "
            "var_pop(v) * count(v) AS m2, min(v) AS lo, max(v) AS hi "
            f"FROM (SELECT {bucket_sql(c)} AS key, {finite} AS v, {_codes(segments)} "
            f"FROM {quote_identifier(view)} WHERE {x} IS NOT NULL) GROUP BY {_sets(segments, 'key')}"
        )
    return " UNION ALL ".join(branches) + " ORDER BY seg, col, key"


def segmented_categorical_sql(
    view: str, columns: Sequence[str], segments: Sequence[str], top_k: int = TOP_K
) -> str:
    """categorical_sql's rows with a leading segment code `seg`, for each segment column's segments (the
    whole population is their merge when no segment pooled values: else categorical_sql's own)."""
    branches = [
        f"SELECT * FROM (SELECT seg, {i} AS col, value, n, "
        "count(*) OVER (PARTITION BY seg) AS distinct_values, sum(n) OVER (PARTITION BY seg) AS total "
        f"FROM (SELECT {_seg(segments)} AS seg, value, count(*) AS n FROM (SELECT "
        f"CAST({quote_identifier(c)} AS VARCHAR) AS value, {_codes(segments)} FROM {quote_identifier(view)} "
        f"WHERE {quote_identifier(c)} IS NOT NULL) GROUP BY {_sets(segments, 'value')}) "
        f"QUALIFY row_number() OVER (PARTITION BY seg ORDER BY n DESC, value) <= {int(top_k)})"
        for i, c in enumerate(columns)
    ]
    return " UNION ALL ".join(branches)
