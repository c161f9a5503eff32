"""DuckDB profiling against the pure-numpy profiles of the same values, and the Parquet round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.config import Column
from monitoring_pipeline.pipeline.profiling import profile_relation, profiles_from_table, profiles_to_table
from monitoring_pipeline.stats.profiles import OTHER, categorical_profile, numeric_profile
from monitoring_pipeline.storage import duck

RNG = np.random.default_rng(4)
N = 50_000


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    x = RNG.lognormal(1, 2, N) * np.where(RNG.random(N) < 0.3, -1, 1)
    x[:7] = [np.nan, np.inf, -np.inf, 0.0, 1e-15, -1e-15, np.nan]
    cats = RNG.choice(np.array([f"c{i}" for i in range(300)], dtype=object), N)
    cats[:11] = None
    return pd.DataFrame({"x": x, "k": RNG.poisson(2, N).astype(float), "c": pd.Series(cats, dtype="str")})


COLUMNS = [
    Column(name="x", kind="numerical"),
    Column(name="k", kind="numerical"),
    Column(name="c", kind="categorical"),
]


def test_duckdb_profile_matches_numpy(frame: pd.DataFrame) -> None:
    with duck.connect() as conn:
        got = profile_relation(conn, conn.from_df(frame), COLUMNS)
    x = got["x"]
    expected = numeric_profile(frame["x"].to_numpy())
    assert (x.rows, x.nulls, x.non_finite, x.count) == (N, 2, 2, N - 4)
    assert (x.nulls, x.non_finite) == (expected.nulls, expected.non_finite)
    assert x.sketch.keys.tolist() == expected.sketch.keys.tolist()
    assert x.sketch.counts.tolist() == expected.sketch.counts.tolist()
    assert x.mean == pytest.approx(expected.mean, rel=1e-9) and x.std == pytest.approx(expected.std, rel=1e-9)
    assert got["k"].quantiles() == numeric_profile(frame["k"].to_numpy()).quantiles()  # integers: exact
    c, expected_c = got["c"], categorical_profile(frame["c"].where(frame["c"].notna(), None).tolist())
    assert (c.rows, c.nulls, c.distinct) == (expected_c.rows, expected_c.nulls, 300)
    assert dict(c.counts) == dict(expected_c.counts) and c.counts[OTHER] == N - 11 - sum(
        v for k, v in c.counts.items() if k != OTHER
    )


def test_empty_relation(frame: pd.DataFrame) -> None:
    with duck.connect() as conn:
        got = profile_relation(conn, conn.from_df(frame.iloc[:0]), COLUMNS)
    assert all(p.rows == 0 and p.count == 0 for p in got.values())


def test_parquet_round_trip(frame: pd.DataFrame) -> None:
    with duck.connect() as conn:
        profiles = profile_relation(conn, conn.from_df(frame), COLUMNS)
    table = profiles_to_table(
        "m", datetime(2026, 1, 1, tzinfo=UTC), profiles, {"x": "feature", "k": "feature", "c": "feature"}
    )
    assert table.num_rows == 3 and table.column("p50")[0].as_py() == pytest.approx(
        profiles["x"].quantiles()[0.5]
    )
    back = profiles_from_table(table)
    assert back["x"].sketch.keys.tolist() == profiles["x"].sketch.keys.tolist()
    assert (back["x"].nulls, back["x"].non_finite, back["x"].mean) == (2, 2, profiles["x"].mean)
    assert dict(back["c"].counts) == dict(profiles["c"].counts) and back["c"].distinct == 300
