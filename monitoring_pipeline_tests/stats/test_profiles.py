"""Sketches and profiles against numpy on the same samples; merging hours equals profiling the day."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring_pipeline.stats.profiles import (
    OTHER,
    QUANTILES,
    CategoricalProfile,
    categorical_profile,
    merge_profiles,
    numeric_profile,
)
from monitoring_pipeline.stats.sketch import ALPHA, GAMMA, bucket_keys, sketch_from_values

RNG = np.random.default_rng(42)
SAMPLES = {
    "normal": RNG.normal(0, 1, 20_000),
    "lognormal": RNG.lognormal(3, 1, 20_000),
    "poisson": RNG.poisson(3, 20_000).astype(float),
    "shifted": RNG.normal(1e6, 10, 20_000),
}


def test_bucket_edges_have_the_documented_relative_width() -> None:
    x = np.array([1.0, 1.0 + 1e-9, GAMMA * (1 - 1e-9), GAMMA * (1 + 1e-9), -1.0, 0.0, 1e-13])
    k = bucket_keys(x)
    assert k[1] == k[0] + 1 and k[2] == k[1] and k[3] == k[2] + 1  # buckets are (GAMMA^(k-1), GAMMA^k]
    assert k[4] == -k[0] and k[5] == 0 and 0 < k[6] < k[0]  # 0 has key 0; tiny values the innermost bucket
    values = np.sort(RNG.normal(0, 100, 1000))
    assert np.all(np.diff(bucket_keys(values)) >= 0)  # keys are monotonic in the value


@pytest.mark.parametrize("name", SAMPLES)
def test_moments_are_exact(name: str) -> None:
    x = SAMPLES[name]
    p = numeric_profile(x)
    assert p.count == len(x) and p.nulls == 0
    assert p.mean == pytest.approx(x.mean(), rel=1e-12, abs=1e-12)
    assert p.std == pytest.approx(x.std(ddof=1), rel=1e-9)
    assert (p.min, p.max) == (x.min(), x.max())


@pytest.mark.parametrize("name", SAMPLES)
def test_quantiles_within_one_bucket(name: str) -> None:
    """Tolerance: one bucket's relative width, 2 * ALPHA (2 %), plus an absolute 1e-9 near zero."""
    x = SAMPLES[name]
    ours = numeric_profile(x).quantiles()
    for q in QUANTILES:
        assert ours[q] == pytest.approx(np.quantile(x, q), rel=2 * ALPHA, abs=1e-9), q


def test_nulls_and_non_finite_are_counted_not_profiled() -> None:
    p = numeric_profile([1.0, None, float("nan"), float("inf"), -float("inf"), 2.0])
    assert (p.rows, p.nulls, p.non_finite, p.count) == (6, 2, 2, 2)
    assert p.mean == 1.5


def test_merging_hours_equals_profiling_the_day() -> None:
    """Exact for counts, nulls, min, max and (to float precision) mean and std; quantiles within
    one bucket (2 % relative) of the day's exact quantiles."""
    hours = [np.append(RNG.lognormal(3 + h / 24, 1, 1000 + 37 * h), [np.nan] * h) for h in range(24)]
    day = np.concatenate(hours)
    merged = merge_profiles(numeric_profile(h) for h in hours)
    whole = numeric_profile(day)
    assert (merged.rows, merged.nulls, merged.count) == (whole.rows, whole.nulls, whole.count)
    assert np.array_equal(merged.sketch.keys, whole.sketch.keys)
    assert np.array_equal(merged.sketch.counts, whole.sketch.counts)
    assert (merged.min, merged.max) == (whole.min, whole.max)
    assert merged.mean == pytest.approx(np.nanmean(day), rel=1e-12)
    assert merged.std == pytest.approx(np.nanstd(day, ddof=1), rel=1e-9)
    finite = day[np.isfinite(day)]
    for q, value in merged.quantiles().items():
        assert value == pytest.approx(np.quantile(finite, q), rel=2 * ALPHA)


def test_categorical_profile_and_merge() -> None:
    a = categorical_profile(["x", "y", "x", None, "z"])
    b = categorical_profile(["x", "w", float("nan")])
    assert (a.rows, a.nulls, a.distinct, dict(a.counts)) == (5, 1, 3, {"x": 2, "y": 1, "z": 1})
    m = merge_profiles([a, b])
    assert isinstance(m, CategoricalProfile)
    assert (m.rows, m.nulls, m.count, m.distinct) == (8, 2, 6, 4)
    assert dict(m.counts) == {"x": 3, "y": 1, "z": 1, "w": 1}


def test_top_k_pools_the_rest_as_other() -> None:
    values = [f"c{i}" for i in range(10) for _ in range(10 - i)]
    p = categorical_profile(values, top_k=3)
    assert dict(p.counts) == {"c0": 10, "c1": 9, "c2": 8, OTHER: sum(range(1, 8))}
    assert p.distinct == 10 and p.count == len(values)


def test_empty_and_all_null() -> None:
    p = numeric_profile([None, None])
    assert (p.count, p.nulls) == (0, 2) and math.isnan(p.mean) and math.isnan(p.quantiles()[0.5])
    assert merge_profiles([]) is None
    with pytest.raises(ValueError, match="different kinds"):
        merge_profiles([numeric_profile([1.0]), categorical_profile(["a"])])


def test_sketch_of_constant_feature() -> None:
    s = sketch_from_values(np.full(100, 7.25))
    assert len(s.keys) == 1 and s.moments() == (7.25, 0.0)
    assert s.quantiles([0.01, 0.5, 0.99]) == [7.25, 7.25, 7.25]
