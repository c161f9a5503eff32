"""SQL text for profiling one table of rows in a single DuckDB pass per column kind.

Column names come from the validated config and are quoted; the bucket expression is the SQL twin
of `stats.sketch.bucket_keys` (its constants are numbers we own, not input).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitoring_pipeline.stats.sketch import INV_LN_GAMMA, OFFSET, ZERO_BAND
from monitoring_pipeline.storage.duck import quote_identifier, string_literal

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
# A segment column's kept values are bound as list parameters ($1, $2): they are data, never SQL text.
# Each row of a segmented query carries `segment`: NULL for the whole population, else '<column>=<value>'
# (values outside the kept ones pooled as OTHER). GROUPING SETS aggregate every set in the one scan.

SEGMENT_ALIASES = ("__segment_0", "__segment_1")


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
        "ORDER BY j, n DESC"
    )


def _segmented(view: str, columns: Sequence[str], other: str) -> str:
    """The view with each segment column's value, or `other` outside the kept ones ($1, $2)."""
    picks = ", ".join(
        f"CASE WHEN list_contains(${i + 1}, CAST({quote_identifier(c)} AS VARCHAR)) "
        f"THEN CAST({quote_identifier(c)} AS VARCHAR) ELSE {string_literal(other)} END "
        f"AS {SEGMENT_ALIASES[i]}"
        for i, c in enumerate(columns)
    )
    return f"(SELECT *, {picks} FROM {quote_identifier(view)})"


def _label(columns: Sequence[str]) -> str:
    """The segment of a grouping-set row: NULL (whole population) or '<column>=<value>'."""
    whens = " ".join(
        f"WHEN GROUPING({SEGMENT_ALIASES[i]}) = 0 THEN {string_literal(c + '=')} || {SEGMENT_ALIASES[i]}"
        for i, c in enumerate(columns)
    )
    return f"CASE {whens} END"


def _sets(columns: Sequence[str], *keys: str) -> str:
    inner = ", ".join(keys)
    sets = [f"({inner})"] + [f"({SEGMENT_ALIASES[i]}, {inner})" for i in range(len(columns))]
    return f"GROUPING SETS ({', '.join(sets)})"


def segmented_rows_sql(view: str, segments: Sequence[str], other: str) -> str:
    """Rows (segment, rows) of the whole population and of each segment."""
    sets = ", ".join(["()"] + [f"({SEGMENT_ALIASES[i]})" for i in range(len(segments))])
    return (
        f"SELECT {_label(segments)} AS segment, count(*) AS n FROM {_segmented(view, segments, other)} "
        f"GROUP BY GROUPING SETS ({sets})"
    )


def segmented_numerical_sql(view: str, columns: Sequence[str], segments: Sequence[str], other: str) -> str:
    """numerical_sql's rows with a leading `segment`, ordered by segment (whole first), column, key."""
    source = _segmented(view, segments, other)
    aliases = ", ".join(SEGMENT_ALIASES[: len(segments)])
    branches = []
    for i, c in enumerate(columns):
        x = quote_identifier(c)
        finite = f"CASE WHEN isfinite({x}) THEN {x} END"
        branches.append(
            f"SELECT {_label(segments)} AS segment, {i} AS col, key, count(*) AS n, sum(v) AS s, "
            "var_pop(v) * count(v) AS m2, min(v) AS lo, max(v) AS hi "
            f"FROM (SELECT {bucket_sql(c)} AS key, {finite} AS v, {aliases} FROM {source} "
            f"WHERE {x} IS NOT NULL) GROUP BY {_sets(segments, 'key')}"
        )
    return " UNION ALL ".join(branches) + " ORDER BY segment NULLS FIRST, col, key"


def segmented_categorical_sql(
    view: str, columns: Sequence[str], segments: Sequence[str], other: str, top_k: int = TOP_K
) -> str:
    """categorical_sql's rows with a leading `segment`: each segment's top_k values of each column."""
    source = _segmented(view, segments, other)
    aliases = ", ".join(SEGMENT_ALIASES[: len(segments)])
    branches = [
        f"SELECT * FROM (SELECT segment, {i} AS col, value, n, "
        "count(*) OVER (PARTITION BY segment) AS distinct_values, "
        "sum(n) OVER (PARTITION BY segment) AS total "
        f"FROM (SELECT {_label(segments)} AS segment, value, count(*) AS n FROM (SELECT "
        f"CAST({quote_identifier(c)} AS VARCHAR) AS value, {aliases} FROM {source} "
        f"WHERE {quote_identifier(c)} IS NOT NULL) GROUP BY {_sets(segments, 'value')}) "
        f"QUALIFY row_number() OVER (PARTITION BY segment ORDER BY n DESC, value) <= {int(top_k)})"
        for i, c in enumerate(columns)
    ]
    return " UNION ALL ".join(branches)
