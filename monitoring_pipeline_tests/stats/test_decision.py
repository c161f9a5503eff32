"""Drift decisions judged as users judge them: on hours of a few hundred rows and of a million, an
unchanged feature does not alarm, a meaningful change (location, scale, shape, unit bug, cap, new
category) does, and a change too small to matter does not alarm at a million rows."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring_pipeline.stats.drift import evaluate_feature, summarize
from monitoring_pipeline.stats.profiles import categorical_profile, numeric_profile

REFERENCE_ROWS = 72_000  # a 24-hour trailing reference at 3,000 rows an hour
SIZES = [300, 1_000_000]
CATS = np.array(["grocery", "fuel", "travel", "online", "electronics"], dtype=object)
P = [0.35, 0.25, 0.15, 0.15, 0.10]


def numeric_ref(rng: np.random.Generator) -> np.ndarray:
    return rng.lognormal(3, 0.8, REFERENCE_ROWS)


def decide(ref: np.ndarray, cur: np.ndarray, **kw: object) -> object:
    return evaluate_feature("x", "numerical", numeric_profile(ref), numeric_profile(cur), **kw)


def decide_cat(ref: np.ndarray, cur: np.ndarray, **kw: object) -> object:
    return evaluate_feature("c", "categorical", categorical_profile(ref), categorical_profile(cur), **kw)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", range(3))
def test_unchanged_features_do_not_alarm(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert not decide(numeric_ref(rng), rng.lognormal(3, 0.8, n)).drifted
    assert not decide(rng.normal(0, 1, REFERENCE_ROWS), rng.normal(0, 1, n)).drifted
    assert not decide(rng.poisson(3, REFERENCE_ROWS) * 1.0, rng.poisson(3, n) * 1.0).drifted
    assert not decide_cat(rng.choice(CATS, REFERENCE_ROWS, p=P), rng.choice(CATS, n, p=P)).drifted


CHANGES = {
    "location: +0.5 std": lambda x: x + 0.5 * x.std(),
    "scale: x2 around the mean": lambda x: x.mean() + 2 * (x - x.mean()),
    "unit bug: x1000": lambda x: x * 1000,
    "capped at the 75th percentile": lambda x: np.minimum(x, np.quantile(x, 0.75)),
    "shape: bimodal, same mean": lambda x: x.mean() + np.where(np.arange(len(x)) % 2, 1, -1) * x.std(),
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("change", CHANGES)
def test_meaningful_numerical_changes_alarm(n: int, change: str) -> None:
    rng = np.random.default_rng(11)
    result = decide(numeric_ref(rng), CHANGES[change](rng.lognormal(3, 0.8, n)))
    assert result.drifted, (change, result.score, result.p_value)


@pytest.mark.parametrize("n", SIZES)
def test_a_new_category_alarms(n: int) -> None:
    rng = np.random.default_rng(5)
    cur = rng.choice(CATS, n, p=P)
    cur[rng.random(n) < 0.10] = "crypto"
    result = decide_cat(rng.choice(CATS, REFERENCE_ROWS, p=P), cur)
    assert result.drifted and result.details["new_categories"] == ["crypto"]


def test_a_negligible_shift_at_a_million_rows_does_not_alarm() -> None:
    """'Too small to matter' for the default `ks`: D < 0.05 (0.02 std of location here: D ~ 0.01).
    A p-value test alone (ks_pvalue) cries wolf on the same data: that is the failure we avoid."""
    rng = np.random.default_rng(8)
    ref, cur = rng.normal(0, 1, REFERENCE_ROWS), rng.normal(0.02, 1, 1_000_000)
    assert not decide(ref, cur).drifted
    assert decide(ref, cur).p_value < 0.05
    rng = np.random.default_rng(9)
    shares = [0.34, 0.26, 0.15, 0.15, 0.10]  # one point of traffic moved between categories
    assert not decide_cat(
        rng.choice(CATS, REFERENCE_ROWS, p=P), rng.choice(CATS, 1_000_000, p=shares)
    ).drifted


def test_ks_pvalue_cries_wolf_where_ks_does_not() -> None:
    rng = np.random.default_rng(8)
    ref, cur = rng.normal(0, 1, REFERENCE_ROWS), rng.normal(0.05, 1, 1_000_000)
    assert decide(ref, cur, test_name="ks_pvalue").drifted and not decide(ref, cur).drifted


def test_edge_cases() -> None:
    rng = np.random.default_rng(1)
    ref = numeric_profile(rng.normal(0, 1, 1000))
    empty = evaluate_feature("x", "numerical", ref, numeric_profile([]))
    assert (empty.status, empty.drifted, empty.score) == ("no_data", False, None)
    all_null = evaluate_feature("x", "numerical", ref, numeric_profile([None] * 500))
    assert all_null.status == "no_data" and not all_null.drifted
    small_ref = evaluate_feature(
        "x", "numerical", numeric_profile(rng.normal(0, 1, 10)), numeric_profile(rng.normal(5, 1, 500))
    )
    assert (
        small_ref.status == "insufficient_data"
        and not small_ref.drifted
        and "reference has 10" in small_ref.details["reason"]
    )
    no_ref = evaluate_feature("x", "numerical", None, numeric_profile(rng.normal(0, 1, 500)))
    assert no_ref.status == "insufficient_data" and not no_ref.drifted
    constant = numeric_profile(np.full(5000, 7.0))
    assert not evaluate_feature("x", "numerical", constant, numeric_profile(np.full(500, 7.0))).drifted
    moved = evaluate_feature(
        "x", "numerical", constant, numeric_profile(np.full(500, 8.0)), test_name="wasserstein"
    )
    assert moved.drifted and np.isfinite(moved.score)


def test_summary_counts_features_not_predictions() -> None:
    rng = np.random.default_rng(2)
    ref = numeric_profile(rng.normal(0, 1, 5000))
    results = [
        evaluate_feature("a", "numerical", ref, numeric_profile(rng.normal(3, 1, 500))),
        evaluate_feature("b", "numerical", ref, numeric_profile(rng.normal(0, 1, 500))),
        evaluate_feature("c", "numerical", ref, numeric_profile([])),
        evaluate_feature(
            "score", "numerical", ref, numeric_profile(rng.normal(3, 1, 500)), role="prediction"
        ),
    ]
    summary = summarize(results)
    assert (summary.features, summary.evaluated, summary.drifted, summary.drift_share) == (3, 2, 1, 0.5)
    assert summary.prediction_drifted and [r.feature for r in summary.top] == ["a"]


def test_an_hour_without_a_reference_is_not_judged() -> None:
    """Every column gets `no_reference` with the reason; the hour's summary has nothing evaluated."""
    from monitoring_pipeline.stats.drift import DriftColumn, no_reference

    rng = np.random.default_rng(3)
    current = {"x": numeric_profile(rng.normal(0, 1, 500)), "c": categorical_profile(np.array(["a"] * 50))}
    columns = [DriftColumn("x", "numerical"), DriftColumn("c", "categorical", "prediction", "psi", 0.3)]
    results = no_reference(columns, current, 1e-3, "window 4/12 hours profiled")
    assert [(r.feature, r.status, r.drifted, r.score) for r in results] == [
        ("x", "no_reference", False, None),
        ("c", "no_reference", False, None),
    ]
    assert results[1].test == "psi" and results[1].threshold == 0.3 and results[0].current_count == 500
    assert all(r.details == {"reason": "window 4/12 hours profiled"} for r in results)
    summary = summarize(results)
    assert (summary.evaluated, summary.drift_share, summary.prediction_drifted) == (0, None, False)
