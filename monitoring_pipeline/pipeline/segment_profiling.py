"""Profiles per segment (model.segments), computed in the same DuckDB pass as the whole population's, and
stored as rows of `segment_profiles` (feature_profiles' columns plus `segment`). No Dagster here.

A segment is one value of one segment column, named `<column>=<value>`: each column's `segment_top_k`
largest values of the hour by rows, the rest of its values (and its nulls) pooled as `<column>=__other__`.
Two segment columns give two sets of segments, not their cross product: each segment keeps enough rows to
be judged, and a regional incident shows in its region whatever the channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring_pipeline.config import Column
from monitoring_pipeline.pipeline.profiling import VIEW, profiles_from_table, profiles_to_table, sketch_of
from monitoring_pipeline.stats.profiles import (
    OTHER,
    CategoricalProfile,
    NumericProfile,
    Profile,
    merge_profiles,
)
from monitoring_pipeline.stats.sketch import empty_sketch
from monitoring_pipeline.storage import profile_sql

SegmentProfiles = dict[str, dict[str, Profile]]  # segment -> column -> profile
Out = dict[int, dict[str, Profile]]  # segment code (profile_sql) -> column -> profile


def segment_name(column: str, value: str) -> str:
    return f"{column}={value}"


def segment_column(segment: str) -> str:
    return segment.split("=", 1)[0]


def profile_with_segments(
    conn: Any, relation: Any, columns: Sequence[Column], segments: Sequence[str], top_k: int
) -> tuple[dict[str, Profile], SegmentProfiles]:
    """The whole population's profiles and each segment's, from one grouping-sets query per column kind
    (plus a small query for each segment column's top values). A column's whole profile is the merge of
    its first segment column's segments (they hold every row once): one aggregation fewer; a categorical
    column that a segment pooled (more than TOP_K values) is counted on its own, so its whole profile's
    top values are exact."""
    conn.register(VIEW, relation)
    total = int(conn.execute(profile_sql.rows_sql(VIEW)).fetchone()[0])
    kept = conn.execute(profile_sql.segment_values_sql(VIEW, segments, top_k)).fetchall()
    params: list[list[str]] = []
    labels: dict[int, str] = {}
    rows: dict[int, int] = {}
    for j, column in enumerate(segments):
        # a value spelled like the pooled rest's name is pooled with it: one segment, one name
        values = [(value, int(n)) for i, value, n in kept if i == j and value != OTHER]
        params.append([value for value, _ in values])
        base = j * profile_sql.SEG_STRIDE
        for position, (value, n) in enumerate(values, 1):
            labels[base + position], rows[base + position] = segment_name(column, value), n
        if total - sum(n for _, n in values):  # the other values, and the nulls
            labels[base], rows[base] = segment_name(column, OTHER), total - sum(n for _, n in values)
    out: dict[int, dict[str, Profile]] = {code: {} for code in labels}
    numerical = [c.name for c in columns if c.kind == "numerical"]
    categorical = [c.name for c in columns if c.kind == "categorical"]
    whole: dict[str, Profile] = {}
    if numerical:
        sql = profile_sql.segmented_numerical_sql(VIEW, numerical, segments)
        _numerical(conn.execute(sql, params).to_arrow_table(), numerical, rows, out)
        first = [code for code in out if code < profile_sql.SEG_STRIDE]
        for name in numerical:
            merged = merge_profiles(out[code][name] for code in first)
            whole[name] = merged if merged is not None else NumericProfile(0, 0, 0, empty_sketch())
    if categorical:
        sql = profile_sql.segmented_categorical_sql(VIEW, categorical, segments)
        _categorical(conn.execute(sql, params).fetchall(), categorical, rows, out)
        pooled = []  # a column some segment pooled values of: its whole profile is counted on its own
        for name in categorical:
            parts = [out[code][name] for code in out if code < profile_sql.SEG_STRIDE]
            if any(p.pooled for p in parts):  # type: ignore[union-attr]
                pooled.append(name)
            else:
                merged = merge_profiles(parts)
                whole[name] = merged if merged is not None else CategoricalProfile(0, 0, {}, 0)
        if pooled:
            top = conn.execute(profile_sql.categorical_sql(VIEW, pooled)).fetchall()
            alone = {profile_sql.WHOLE: {}}
            _categorical([(profile_sql.WHOLE, *r) for r in top], pooled, {profile_sql.WHOLE: total}, alone)
            whole |= alone[profile_sql.WHOLE]
    whole = {c.name: whole[c.name] for c in columns}  # the declared order
    return whole, {labels[code]: out[code] for code in sorted(out, key=lambda code: labels[code])}


def _numerical(table: pa.Table, names: list[str], rows: Mapping[int, int], out: Out) -> None:
    """Cut the (seg, col, key...) rows, ordered by segment then column, into one sketch each."""
    data = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    seg, cols = data["seg"], data["col"]
    cuts = np.flatnonzero((seg[1:] != seg[:-1]) | (cols[1:] != cols[:-1])) + 1
    starts = np.r_[0, cuts] if len(seg) else np.array([], dtype=int)
    ends = np.r_[cuts, len(seg)] if len(seg) else np.array([], dtype=int)
    found = {(int(seg[a]), int(cols[a])): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
    for segment, n in rows.items():
        for i, name in enumerate(names):
            a, b = found.get((segment, i), (0, 0))
            part = {k: v[a:b] for k, v in data.items()}
            finite = part["key"] != profile_sql.NON_FINITE_KEY
            non_finite = int(part["n"][~finite].sum())
            sketch = sketch_of({k: v[finite] for k, v in part.items()}) if b > a else empty_sketch()
            out[segment][name] = NumericProfile(n, n - sketch.total - non_finite, non_finite, sketch)


def _categorical(top: list[tuple], names: list[str], rows: Mapping[int, int], out: Out) -> None:
    by: dict[tuple[int, int], list[tuple]] = {}
    for row in top:
        by.setdefault((int(row[0]), int(row[1])), []).append(row)
    for segment, n in rows.items():
        for i, name in enumerate(names):
            mine = by.get((segment, i), [])
            present = int(mine[0][5]) if mine else 0
            kept = {value: int(count) for _, _, value, count, _, _ in mine}
            if present - sum(kept.values()):
                kept[OTHER] = present - sum(kept.values())
            distinct = int(mine[0][4]) if mine else 0
            out[segment][name] = CategoricalProfile(n, n - present, kept, distinct)


def segment_profiles_to_table(
    model: str, hour: Any, profiles: SegmentProfiles, roles: Mapping[str, str]
) -> pa.Table:
    """Every segment's profiles as `feature_profiles` rows with a `segment` column."""
    tables = []
    for segment, by_column in profiles.items():
        table = profiles_to_table(model, hour, by_column, roles)
        tables.append(table.append_column("segment", pa.array([segment] * len(table), pa.string())))
    if not tables:
        empty = profiles_to_table(model, hour, {}, roles)
        return empty.append_column("segment", pa.array([], pa.string()))
    return pa.concat_tables(tables)


def segment_profiles_from_table(table: pa.Table) -> SegmentProfiles:
    segments = table.column("segment")
    out: SegmentProfiles = {}
    for segment in sorted(set(segments.to_pylist())):
        out[segment] = profiles_from_table(table.filter(pc.equal(segments, segment)))
    return out


def merge_segment_profiles(hours: Sequence[SegmentProfiles]) -> dict[str, dict[str, list[Profile]]]:
    """Each segment's profiles of each column over several hours, ready to merge."""
    merged: dict[str, dict[str, list[Profile]]] = {}
    for by_segment in hours:
        for segment, by_column in by_segment.items():
            for column, profile in by_column.items():
                merged.setdefault(segment, {}).setdefault(column, []).append(profile)
    return merged


def rows_of(profiles: Mapping[str, Profile]) -> int:
    return max((p.rows for p in profiles.values()), default=0)
