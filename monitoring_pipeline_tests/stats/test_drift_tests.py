"""Each drift test against an independent reference (scipy or a hand computation), with stated
tolerances; the registry's contract; edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from monitoring_pipeline.stats.drift import REGISTRY, UnknownDriftTestError, evaluate_feature, get_test
from monitoring_pipeline.stats.drift.chisquare import homogeneity
from monitoring_pipeline.stats.drift.hellinger import hellinger
from monitoring_pipeline.stats.drift.jensenshannon import js_distance
from monitoring_pipeline.stats.drift.ks import ks_from_profiles, ks_p_value, ks_statistic_exact
from monitoring_pipeline.stats.drift.psi import psi
from monitoring_pipeline.stats.drift.wasserstein import wasserstein_1
from monitoring_pipeline.stats.profiles import categorical_profile, numeric_profile
from monitoring_pipeline.stats.sketch import aligned_counts

RNG = np.random.default_rng(3)
PAIRS = {
    "same": (RNG.normal(0, 1, 5000), RNG.normal(0, 1, 3000)),
    "shift": (RNG.normal(0, 1, 5000), RNG.normal(0.3, 1, 3000)),
    "scale": (RNG.lognormal(2, 1, 5000), RNG.lognormal(2, 1.3, 3000)),
    "discrete": (RNG.poisson(3, 5000).astype(float), RNG.poisson(3.4, 3000).astype(float)),
}


@pytest.mark.parametrize("name", PAIRS)
def test_ks_exact_on_raw_data(name: str) -> None:
    a, b = PAIRS[name]
    assert ks_statistic_exact(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("name", PAIRS)
def test_ks_from_profiles_within_bin_resolution(name: str) -> None:
    """|D(profiles) - D(raw)| <= the largest mass one bucket holds on either side (documented bound)."""
    a, b = PAIRS[name]
    pa, pb = numeric_profile(a), numeric_profile(b)
    _, ca, cb = aligned_counts(pa.sketch, pb.sketch)
    bound = max(ca.max() / len(a), cb.max() / len(b))
    d, _ = ks_from_profiles(pa, pb)
    reference = stats.ks_2samp(a, b)
    assert abs(d - reference.statistic) <= bound + 1e-12
    assert bound < 0.02 or name == "discrete"
    if name == "discrete":  # one bucket per integer: D is exact
        assert d == pytest.approx(reference.statistic, abs=1e-12)


def test_ks_p_value_matches_scipy_asymptotic() -> None:
    a, b = PAIRS["shift"]
    d = ks_statistic_exact(a, b)
    assert ks_p_value(d, len(a), len(b)) == pytest.approx(
        stats.ks_2samp(a, b, method="asymp").pvalue, rel=1e-9
    )


def test_chi_square_homogeneity_matches_scipy() -> None:
    ref, cur = np.array([500.0, 300, 150, 50]), np.array([90.0, 70, 30, 10])
    statistic, dof, p = homogeneity(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert (statistic, dof, p) == pytest.approx(
        (expected.statistic, expected.dof, expected.pvalue), rel=1e-12
    )
    table = np.vstack([ref, cur])
    f_exp = table.sum(1, keepdims=True) * table.sum(0) / table.sum()
    by_chisquare = stats.chisquare(table.ravel(), f_exp.ravel(), ddof=table.size - 1 - dof)
    assert (statistic, p) == pytest.approx((by_chisquare.statistic, by_chisquare.pvalue), rel=1e-12)


def test_chi_square_pools_sparse_cells_and_handles_unseen_categories() -> None:
    ref, cur = np.array([1000.0, 1000, 0]), np.array([100.0, 80, 20])  # category 3 unseen in the reference
    statistic, dof, p = homogeneity(ref, cur)
    assert np.isfinite(statistic) and p < 1e-10
    statistic, dof, p = homogeneity(np.array([1000.0, 1000, 1]), np.array([100.0, 100, 0]))  # sparse: pooled
    assert dof == 1 and p > 0.5


@pytest.mark.parametrize("name", PAIRS)
def test_wasserstein_exact_on_points_and_close_from_profiles(name: str) -> None:
    a, b = PAIRS[name]
    ones_a, ones_b = np.ones(len(a)), np.ones(len(b))
    reference = stats.wasserstein_distance(a, b)
    assert wasserstein_1(a, ones_a, b, ones_b) == pytest.approx(reference, rel=1e-9, abs=1e-12)
    pa, pb = numeric_profile(a), numeric_profile(b)
    approx = wasserstein_1(pa.sketch.means, pa.sketch.counts * 1.0, pb.sketch.means, pb.sketch.counts * 1.0)
    # tolerance: mass sits at its bucket's mean, at most one bucket (2 % of |x|) from its true place
    assert abs(approx - reference) <= 0.02 * np.mean(np.abs(np.concatenate([a, b]))) + 1e-12


def test_jensen_shannon_matches_scipy() -> None:
    ref, cur = np.array([10.0, 20, 30, 0]), np.array([5.0, 25, 20, 10])
    assert js_distance(ref, cur) == pytest.approx(
        jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2), rel=1e-12
    )
    assert js_distance(ref, ref) == pytest.approx(0.0, abs=1e-7)


def test_psi_by_hand_with_the_empty_bin_rule() -> None:
    hand = (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.3 - 0.2) * np.log(0.3 / 0.2)
    assert psi(np.array([50.0, 30, 20]), np.array([40.0, 30, 30])) == pytest.approx(hand, rel=1e-12)
    # an empty reference bin's proportion becomes 1e-4
    hand = (0.5 - 0.5) * 0 + (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.1 - 1e-4) * np.log(0.1 / 1e-4)
    assert psi(np.array([50.0, 50, 0]), np.array([50.0, 40, 10])) == pytest.approx(hand, rel=1e-12)


def test_hellinger_by_hand() -> None:
    assert hellinger(np.array([1.0, 1]), np.array([1.0, 0])) == pytest.approx(
        np.sqrt(1 - np.sqrt(0.5)), rel=1e-12
    )
    assert hellinger(np.array([1.0, 0]), np.array([0.0, 1])) == pytest.approx(1.0)
    assert hellinger(np.array([3.0, 1]), np.array([6.0, 2])) == pytest.approx(0.0, abs=1e-7)


def test_registry_specs() -> None:
    assert {"ks", "ks_pvalue", "psi", "wasserstein", "jensenshannon", "chisquare", "hellinger"} <= set(
        REGISTRY
    )
    assert REGISTRY["ks_pvalue"].score_kind == "p_value" and REGISTRY["wasserstein"].score_kind == "distance"
    with pytest.raises(
        UnknownDriftTestError, match=r"unknown drift test 'kl'; valid tests: auto, chisquare, hellinger"
    ):
        get_test("kl")
    with pytest.raises(UnknownDriftTestError, match="does not apply to categorical"):
        get_test("wasserstein", "categorical")


def test_p_value_and_distance_semantics() -> None:
    ref, cur = numeric_profile(PAIRS["shift"][0]), numeric_profile(PAIRS["shift"][1])
    by_p = evaluate_feature("x", "numerical", ref, cur, test_name="ks_pvalue")
    assert by_p.score == by_p.p_value and by_p.drifted == (by_p.score < 0.05)
    by_d = evaluate_feature("x", "numerical", ref, cur, test_name="ks", threshold=0.99)
    assert by_d.score < 0.99 and not by_d.drifted  # distance below its threshold: no drift
    same = evaluate_feature(
        "x", "numerical", ref, numeric_profile(PAIRS["same"][1]), test_name="ks", threshold=0.0
    )
    assert not same.drifted  # distance past a zero threshold, but not significant: no drift


@pytest.mark.parametrize(
    "test_name", ["ks", "ks_pvalue", "psi", "wasserstein", "jensenshannon", "chisquare", "hellinger"]
)
def test_every_numerical_test_sees_a_unit_bug(test_name: str) -> None:
    ref, cur = RNG.gamma(2, 2.5, 3000), RNG.gamma(2, 2.5, 500) * 1000
    result = evaluate_feature(
        "distance_km", "numerical", numeric_profile(ref), numeric_profile(cur), test_name=test_name
    )
    assert result.drifted and result.status == "drift"


@pytest.mark.parametrize("test_name", ["jensenshannon", "chisquare", "psi", "hellinger"])
def test_every_categorical_test_sees_a_new_category(test_name: str) -> None:
    cats = np.array(["a", "b", "c"], dtype=object)
    ref = categorical_profile(RNG.choice(cats, 20_000, p=[0.5, 0.3, 0.2]))
    cur_values = RNG.choice(cats, 2000, p=[0.5, 0.3, 0.2])
    cur_values[:200] = "new"
    result = evaluate_feature(
        "merchant", "categorical", ref, categorical_profile(cur_values), test_name=test_name
    )
    assert result.drifted and result.details["new_categories"] == ["new"]
