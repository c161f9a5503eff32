"""Performance metrics against independent computations: brute-force pair counting for ROC AUC, plain
loops for the confusion-matrix metrics, log loss, Brier and calibration error, hand formulas for the
regression metrics, and simulation for CBPE and the standard error. Tolerances are stated per test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from monitoring_pipeline.pipeline.performance import standard_error
from monitoring_pipeline.stats.performance_metrics import (
    cbpe,
    classification_metrics,
    expected_calibration_error,
    fit_calibrator,
    regression_metrics,
    roc_auc,
)


def brute_auc(y: list[int], s: list[float]) -> float:
    pos = [b for a, b in zip(y, s, strict=True) if a == 1]
    neg = [b for a, b in zip(y, s, strict=True) if a == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@pytest.fixture
def sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    score = np.round(rng.beta(2, 5, 400), 2)  # rounded: ties exercise the 1/2 rule
    y = (rng.random(400) < score).astype(int)
    predicted = (score >= 0.3).astype(int)
    return y, score, predicted


def test_classification_metrics_match_hand_computation(sample: tuple) -> None:
    y, score, predicted = sample
    m = classification_metrics(y, predicted, score).values
    tp = sum(1 for a, b in zip(y, predicted, strict=True) if a == 1 and b == 1)
    fp = sum(1 for a, b in zip(y, predicted, strict=True) if a == 0 and b == 1)
    fn = sum(1 for a, b in zip(y, predicted, strict=True) if a == 1 and b == 0)
    tn = len(y) - tp - fp - fn
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert m["accuracy"] == pytest.approx((tp + tn) / len(y), abs=1e-12)
    assert m["precision"] == pytest.approx(precision, abs=1e-12)
    assert m["recall"] == pytest.approx(recall, abs=1e-12)
    assert m["f1"] == pytest.approx(2 * precision * recall / (precision + recall), abs=1e-12)
    assert m["roc_auc"] == pytest.approx(brute_auc(list(y), list(score)), abs=1e-12)
    # scipy's Mann-Whitney U is an independent route to the same number
    u = stats.mannwhitneyu(score[y == 1], score[y == 0]).statistic
    assert m["roc_auc"] == pytest.approx(u / (y.sum() * (len(y) - y.sum())), abs=1e-12)
    loss = -sum(a * math.log(b) + (1 - a) * math.log(1 - b) for a, b in zip(y, score, strict=True)) / len(y)
    assert m["log_loss"] == pytest.approx(loss, rel=1e-9)
    assert m["brier"] == pytest.approx(
        sum((b - a) ** 2 for a, b in zip(y, score, strict=True)) / len(y), rel=1e-12
    )
    bins: dict[int, list[tuple[int, float]]] = {}
    for a, b in zip(y, score, strict=True):
        bins.setdefault(min(int(b * 10), 9), []).append((a, b))
    ece = sum(
        len(v) / len(y) * abs(sum(b for _, b in v) / len(v) - sum(a for a, _ in v) / len(v))
        for v in bins.values()
    )
    assert m["calibration_error"] == pytest.approx(ece, abs=1e-12)
    assert expected_calibration_error(y, score) == pytest.approx(ece, abs=1e-12)


def test_undefined_metrics_are_reported_not_invented() -> None:
    one_class = classification_metrics(np.zeros(50, int), np.zeros(50, int), np.linspace(0, 0.4, 50))
    assert one_class.values["roc_auc"] is None and "one class" in one_class.notes["roc_auc"]
    assert one_class.values["precision"] is None and one_class.values["recall"] is None
    assert one_class.values["accuracy"] == 1.0
    assert roc_auc(np.ones(3, int), np.array([0.1, 0.2, 0.3])) is None
    empty = classification_metrics(np.array([], int), np.array([], int), np.array([]))
    assert all(v is None for v in empty.values.values()) and "all" in empty.notes
    no_regression = regression_metrics(np.array([]), np.array([]))
    assert all(v is None for v in no_regression.values.values())


def test_regression_metrics_match_hand_formulas() -> None:
    rng = np.random.default_rng(5)
    actual = rng.gamma(3, 10, 300)
    actual[:3] = 0.0  # zero targets: MAPE leaves them out and says so
    predicted = actual + rng.normal(0, 4, 300)
    m = regression_metrics(actual, predicted)
    err = predicted - actual
    assert m.values["mae"] == pytest.approx(sum(abs(e) for e in err) / 300, rel=1e-12)
    assert m.values["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in err) / 300), rel=1e-12)
    mape = sum(abs(e / a) for e, a in zip(err[3:], actual[3:], strict=True)) / 297
    assert m.values["mape"] == pytest.approx(mape, rel=1e-12)
    assert "3 zero target" in m.notes["mape"]
    mean = sum(actual) / 300
    r2 = 1 - sum(e * e for e in err) / sum((a - mean) ** 2 for a in actual)
    assert m.values["r2"] == pytest.approx(r2, rel=1e-12)
    # a perfect model, and the linear-regression identity: R² of a fitted line = r²
    slope, intercept, r, *_ = stats.linregress(predicted, actual)
    assert regression_metrics(actual, slope * predicted + intercept).values["r2"] == pytest.approx(
        r * r, rel=1e-9
    )
    assert regression_metrics(np.zeros(4), np.ones(4)).values["mape"] is None


def test_cbpe_estimates_calibrated_performance() -> None:
    """On calibrated scores, the estimate must fall within 3 standard errors of the realized accuracy
    (binomial) and within 0.02 of the realized ROC AUC (20,000 rows); with a miscalibrated model, a
    calibrator fitted on labelled reference data recovers the same accuracy."""
    rng = np.random.default_rng(9)
    score = rng.beta(1.2, 6, 20_000)
    y = (rng.random(20_000) < score).astype(int)
    predicted = (score >= 0.5).astype(int)
    realized = classification_metrics(y, predicted, score).values
    est = cbpe(score, predicted, fit_calibrator(np.array([]), np.array([])))  # identity: scores as given
    se = math.sqrt(realized["accuracy"] * (1 - realized["accuracy"]) / len(y))
    assert abs(est["estimated_accuracy"] - realized["accuracy"]) < 3 * se
    assert est["estimated_roc_auc"] == pytest.approx(realized["roc_auc"], abs=0.02)
    # an overconfident model: raw scores are wrong, calibrated ones are not
    raw = np.clip(score * 1.8, 0, 1)
    reference_y = (rng.random(20_000) < score).astype(int)
    calibrated = cbpe(raw, predicted, fit_calibrator(reference_y, raw))
    naive = cbpe(raw, predicted, fit_calibrator(np.array([]), np.array([])))
    assert abs(calibrated["estimated_accuracy"] - realized["accuracy"]) < 4 * se
    assert abs(naive["estimated_accuracy"] - realized["accuracy"]) > 10 * se


def test_auc_standard_error_matches_simulation() -> None:
    """Hanley & McNeil's standard error against the spread of ROC AUC over 300 simulated hours of 600
    rows: within 25 % (the formula is an approximation; 300 draws estimate a std to ~4 %)."""
    rng = np.random.default_rng(11)
    aucs, ses = [], []
    for _ in range(300):
        s = rng.beta(2, 5, 600)
        y = (rng.random(600) < s).astype(int)
        m = classification_metrics(y, (s >= 0.5).astype(int), s).values
        aucs.append(m["roc_auc"])
        ses.append(standard_error("roc_auc", m, y, np.array([])))
    assert float(np.mean(ses)) == pytest.approx(float(np.std(aucs, ddof=1)), rel=0.25)
