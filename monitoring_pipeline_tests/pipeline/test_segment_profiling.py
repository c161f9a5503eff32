"""Segment profiles from the one grouping-sets pass against pandas' own group-by of the same rows (exact
counts, nulls, means and variances; categorical counts), the pooling of the values past the top k, and the
Parquet round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.config import Column
from monitoring_pipeline.pipeline.profiling import profile_relation
from monitoring_pipeline.pipeline.segment_profiling import (
    profile_with_segments,
    segment_profiles_from_table,
    segment_profiles_to_table,
)
from monitoring_pipeline.stats.profiles import OTHER, NumericProfile
from monitoring_pipeline.storage import duck

N = 40_000
COLUMNS = [
    Column(name="x", kind="numerical"),
    Column(name="device", kind="categorical"),
    Column(name="region", kind="categorical"),
    Column(name="zip", kind="categorical"),  # 500 values: more than a profile keeps (TOP_K), pooled
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    x = rng.normal(5, 2, N)
    x[rng.random(N) < 0.02] = np.nan
    x[:3] = [np.inf, -np.inf, np.inf]
    regions = np.array([f"r{i:02d}" for i in range(30)], dtype=object)
    region = rng.choice(regions, N, p=np.r_[np.full(10, 0.07), np.full(20, 0.3 / 20)])
    region[rng.random(N) < 0.01] = None
    device = rng.choice(np.array(["ios", "android", "web"], dtype=object), N)
    zips = rng.choice(
        np.array([f"z{i:03d}" for i in range(500)], dtype=object),
        N,
        p=np.r_[np.full(100, 0.006), np.full(400, 0.001)],
    )
    return pd.DataFrame(
        {
            "x": x,
            "device": device,
            "region": pd.Series(region, dtype="str"),
            "zip": pd.Series(zips, dtype="str"),
        }
    )


def same_sketch(a: object, b: object) -> bool:
    assert isinstance(a, NumericProfile) and isinstance(b, NumericProfile)
    fields = ("keys", "counts", "sums", "mins", "maxs")
    return all(np.array_equal(getattr(a.sketch, f), getattr(b.sketch, f)) for f in fields)


def test_segment_profiles_match_a_pandas_group_by(frame: pd.DataFrame) -> None:
    with duck.connect() as conn:
        whole, segments = profile_with_segments(conn, conn.from_df(frame), COLUMNS, ["region", "device"], 12)
        alone = profile_relation(conn, conn.from_df(frame), COLUMNS)
    assert whole["x"].count == alone["x"].count and whole["x"].mean == pytest.approx(
        alone["x"].mean, rel=1e-12
    )
    assert (
        whole["x"].std == pytest.approx(alone["x"].std, rel=1e-12)
        and whole["x"].quantiles() == alone["x"].quantiles()
    )
    assert (whole["x"].nulls, whole["x"].non_finite) == (alone["x"].nulls, alone["x"].non_finite)
    assert whole["region"].counts == alone["region"].counts and not whole["region"].pooled  # merged
    assert whole["zip"].counts == alone["zip"].counts and whole["zip"].pooled  # counted on its own
    assert whole["zip"].distinct == alone["zip"].distinct == 500
    top = frame["region"].value_counts().sort_values(ascending=False, kind="stable")
    kept = set(top.index[:12])
    assert set(top.index[12:]) and len(kept) == 12
    pooled = frame["region"].where(frame["region"].isin(kept), OTHER)  # nulls pooled with the rest
    assert set(segments) == {f"region={v}" for v in kept | {OTHER}} | {
        "device=ios",
        "device=android",
        "device=web",
    }
    for column, labels in (("region", pooled), ("device", frame["device"])):
        for value, rows in frame.groupby(labels.to_numpy()):
            got = segments[f"{column}={value}"]
            x = rows["x"].to_numpy()
            finite = x[np.isfinite(x)]
            p = got["x"]
            assert isinstance(p, NumericProfile)
            assert (p.rows, p.nulls, p.non_finite, p.count) == (
                len(rows),
                np.isnan(x).sum(),
                np.isinf(x).sum(),
                len(finite),
            )
            assert p.mean == pytest.approx(finite.mean(), rel=1e-9)
            assert p.std == pytest.approx(finite.std(ddof=1), rel=1e-9)
            assert (p.min, p.max) == (finite.min(), finite.max())
            other = "device" if column == "region" else "region"
            counts = rows[other].dropna().value_counts().to_dict()
            assert dict(got[other].counts) == counts and got[other].nulls == rows[other].isna().sum()


def test_round_trip_and_an_empty_hour(frame: pd.DataFrame) -> None:
    hour = datetime(2026, 1, 1, 5, tzinfo=UTC)
    roles = {"x": "feature", "device": "feature", "region": "feature", "zip": "feature"}
    with duck.connect() as conn:
        _, segments = profile_with_segments(conn, conn.from_df(frame), COLUMNS, ["device"], 20)
        whole, none = profile_with_segments(conn, conn.from_df(frame.iloc[:0]), COLUMNS, ["device"], 20)
    back = segment_profiles_from_table(segment_profiles_to_table("m", hour, segments, roles))
    assert list(back) == list(segments)
    for segment, by_column in segments.items():
        assert same_sketch(back[segment]["x"], by_column["x"])
        assert dict(back[segment]["region"].counts) == dict(by_column["region"].counts)
    assert none == {} and whole["x"].rows == 0  # no rows: no segment, an empty whole profile
    assert segment_profiles_from_table(segment_profiles_to_table("m", hour, none, roles)) == {}


def test_a_reference_keeps_only_segments_complete_in_every_hour() -> None:
    """A value kept in one hour and pooled in another has no complete reference: left out of the merge
    (its rows of the pooled hour are in `__other__`). A value absent where nothing was pooled is complete
    (it had no row). A value literally spelled `__other__` is pooled with the rest: one segment, one name."""
    from monitoring_pipeline.pipeline.segments import merged

    def hour(counts: dict[str, int]) -> dict:
        frame = pd.DataFrame({"x": np.arange(sum(counts.values()), dtype=float)})
        frame["region"] = [v for v, n in counts.items() for _ in range(n)]
        with duck.connect() as conn:
            columns = [Column(name="x", kind="numerical"), Column(name="region", kind="categorical")]
            return profile_with_segments(conn, conn.from_df(frame), columns, ["region"], 2)[1]

    busy = hour({"a": 50, "b": 40, "c": 30})  # c pooled
    quiet = hour({"a": 50, "c": 45, "b": 10})  # b pooled
    sparse = hour({"a": 50, "b": 40})  # nothing pooled: c had no row
    assert set(busy) == {"region=a", "region=b", "region=__other__"}
    got = merged([busy, quiet, sparse])
    assert set(got) == {"region=a", "region=__other__"}  # b and c were each pooled somewhere
    assert got["region=a"]["x"].rows == 150
    assert set(merged([busy, sparse])) == {"region=a", "region=b", "region=__other__"}
    literal = hour({"a": 5, "__other__": 4, "b": 1})
    assert literal["region=__other__"]["x"].rows == 5 and set(literal) == {"region=a", "region=__other__"}
