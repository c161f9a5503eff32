"""Segment drift on plain profiles: unchanged segments of 200 rows stay quiet hour after hour, a shift
confined to a segment of 10 % of traffic alarms for it alone while the whole population stays quiet, the
q-values are Benjamini-Hochberg's over the hour's segments x columns (scipy as the reference), and small
segments are reported, not judged."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from monitoring_pipeline.stats.drift import DriftColumn, evaluate_hour
from monitoring_pipeline.stats.drift.segments import segment_drift, worst_segments
from monitoring_pipeline.stats.profiles import Profile, categorical_profile, merge_profiles, numeric_profile

COLUMNS = [
    DriftColumn("amount", "numerical"),
    DriftColumn("age", "numerical"),
    DriftColumn("channel", "categorical"),
    DriftColumn("region", "categorical"),
]
REGIONS = [f"r{i:02d}" for i in range(20)]
ALPHA = 1e-3


def rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {
        "amount": rng.lognormal(3 + shift, 1.0, n),
        "age": rng.gamma(2.0, 200.0, n),
        "channel": rng.choice(np.array(["web", "app", "pos"], dtype=object), n, p=[0.5, 0.3, 0.2]),
    }


def profiles(data: dict[str, np.ndarray], region: str) -> dict[str, Profile]:
    out: dict[str, Profile] = {c: numeric_profile(data[c]) for c in ("amount", "age")}
    out["channel"] = categorical_profile(data["channel"])
    out["region"] = categorical_profile([region] * len(data["amount"]))
    return out


def hour(rng: np.random.Generator, per_segment: int, shifted: dict[str, float] | None = None) -> dict:
    return {f"region={r}": profiles(rows(rng, per_segment, (shifted or {}).get(r, 0.0)), r) for r in REGIONS}


def reference(rng: np.random.Generator, per_segment: int, hours: int = 24) -> dict:
    merged = {}
    for segment in hour(rng, 1):
        merged[segment] = {}
    parts = [hour(rng, per_segment) for _ in range(hours)]
    for segment in merged:
        for column in ("amount", "age", "channel", "region"):
            merged[segment][column] = merge_profiles(p[segment][column] for p in parts)
    return merged


@pytest.mark.parametrize("seed", range(8))
def test_unchanged_segments_of_200_rows_do_not_alarm(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = reference(rng, 200)
    for _ in range(3):
        found = segment_drift(COLUMNS, ref, hour(rng, 200), ALPHA, 100)
        assert all(s.judged for s in found) and len(found) == 20
        assert [s.segment for s in found if s.drifted] == []


def test_a_shift_in_one_segment_alarms_for_it_alone() -> None:
    """r03 holds 10 % of the hour's 20,000 rows (the others share the rest); its amounts move by half a
    standard deviation of their log: past the floors there, below them in the whole population."""
    rng = np.random.default_rng(42)
    sizes = {r: 2000 if r == "r03" else 18000 // 19 for r in REGIONS}

    def one_hour(shift: float) -> dict:
        return {
            f"region={r}": profiles(rows(rng, n, shift if r == "r03" else 0.0), r) for r, n in sizes.items()
        }

    parts = [one_hour(0.0) for _ in range(6)]
    ref = {s: {c: merge_profiles(p[s][c] for p in parts) for c in parts[0][s]} for s in parts[0]}
    current = one_hour(0.5)
    found = segment_drift(COLUMNS, ref, current, ALPHA, 100)
    assert [(s.segment, [r.feature for r in s.drifted]) for s in found if s.drifted] == [
        ("region=r03", ["amount"])
    ]
    assert worst_segments(found)[0].segment == "region=r03"

    def whole(by_segment: dict) -> dict[str, Profile]:
        return {c: merge_profiles(p[c] for p in by_segment.values()) for c in ("amount", "age", "channel")}

    overall = evaluate_hour(COLUMNS[:3], whole(ref), whole(current), ALPHA)
    assert [r.feature for r in overall if r.drifted] == []


def test_q_values_are_benjamini_hochberg_over_segments_and_columns() -> None:
    rng = np.random.default_rng(5)
    ref = reference(rng, 300, hours=4)
    found = segment_drift(COLUMNS, ref, hour(rng, 300, {"r01": 1.0, "r02": 0.15}), ALPHA, 100)
    results = [r for s in found for r in s.results]
    assert len(results) == 20 * 3  # a segment column is not judged within its own segments
    assert all(r.feature != "region" for r in results)
    column_p = np.array([min(f["adjusted_p_value"] for f in r.details["findings"]) for r in results])
    q = np.array([r.p_value for r in results])
    np.testing.assert_allclose(q, false_discovery_control(column_p), rtol=1e-12)
    assert {s.segment for s in found if s.drifted} >= {"region=r01"}


def test_small_segments_are_reported_not_judged() -> None:
    rng = np.random.default_rng(9)
    ref = reference(rng, 200, hours=2)
    current = hour(rng, 99)
    current["region=new"] = profiles(rows(rng, 500), "new")  # never in the reference
    found = segment_drift(COLUMNS, ref, current, ALPHA, 100)
    assert not any(s.judged for s in found)
    assert all(s.results == () and "judged from 100 rows" in s.reason for s in found)
    new = next(s for s in found if s.segment == "region=new")
    assert (new.rows, new.reference_rows) == (500, 0)


def test_p_value_tests_join_the_family_and_the_pooled_rest_is_never_judged() -> None:
    """A column configured with ks_pvalue / chisquare (each alone at 5 %) is judged with the battery inside
    segments: forty unchanged 300-row segments stay quiet hour after hour. The pooled rest is reported
    only; a segment of the reference without a row this hour is reported as such; 100 rows (the minimum)
    are judged, 99 are not."""
    rng = np.random.default_rng(21)
    columns = [
        DriftColumn("amount", "numerical", test="ks_pvalue"),
        DriftColumn("age", "numerical"),
        DriftColumn("channel", "categorical", test="chisquare"),
        DriftColumn("region", "categorical"),
    ]
    regions = [f"r{i:02d}" for i in range(40)]

    def one(n: int) -> dict:
        return {f"region={r}": profiles(rows(rng, n), r) for r in regions}

    parts = [one(300) for _ in range(6)]
    ref = {s: {c: merge_profiles(p[s][c] for p in parts) for c in parts[0][s]} for s in parts[0]}
    for _ in range(5):
        found = segment_drift(columns, ref, one(300), ALPHA, 100)
        assert [s.segment for s in found if s.drifted] == []
        assert {r.test for s in found for r in s.results} == {"auto"}
    current = one(300)
    current["region=__other__"] = profiles(rows(rng, 5000, 3.0), "x")  # a huge change: still not judged
    current["region=r00"] = profiles(rows(rng, 100), "r00")
    current["region=r01"] = profiles(rows(rng, 99), "r01")
    del current["region=r02"]
    found = {s.segment: s for s in segment_drift(columns, ref, current, ALPHA, 100)}
    assert not found["region=__other__"].judged and "pooled rest" in found["region=__other__"].reason
    assert found["region=r00"].judged and not found["region=r01"].judged
    gone = found["region=r02"]
    assert (gone.judged, gone.rows, gone.reference_rows) == (
        False,
        0,
        1800,
    ) and "no row this hour" in gone.reason
