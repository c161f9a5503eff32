"""Multiclass metrics against brute-force loops (exact), the bootstrap standard error of macro F1 against
the spread over simulated hours, and multiclass CBPE against realized performance on calibrated simulated
data. Tolerances are stated per test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring_pipeline.stats.multiclass import (
    calibrated_probabilities,
    macro_f1_standard_error,
    multiclass_cbpe,
    multiclass_metrics,
)
from monitoring_pipeline.stats.performance_metrics import calibration_counts, calibrator_from_counts

CLASSES = ("billing", "technical", "account")


def brute(y: list[int], pred: list[int], k: int) -> dict[str, object]:
    """Plain loops over the rows: per-class counts, then the textbook formulas."""
    out: dict[str, object] = {}
    precision, recall, f1, support = {}, {}, {}, {}
    for c in range(k):
        tp = sum(1 for a, b in zip(y, pred, strict=True) if a == c and b == c)
        fp = sum(1 for a, b in zip(y, pred, strict=True) if a != c and b == c)
        fn = sum(1 for a, b in zip(y, pred, strict=True) if a == c and b != c)
        support[c] = tp + fn
        precision[c] = tp / (tp + fp) if tp + fp else None
        recall[c] = tp / (tp + fn) if tp + fn else None
        f1[c] = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None
    out["accuracy"] = sum(1 for a, b in zip(y, pred, strict=True) if a == b) / len(y)
    for name, per in (("precision", precision), ("recall", recall), ("f1", f1)):
        defined = [c for c in range(k) if per[c] is not None]
        out[f"macro_{name}"] = sum(per[c] for c in defined) / len(defined)
        weight = sum(support[c] for c in defined)
        out[f"weighted_{name}"] = sum(per[c] * support[c] for c in defined) / weight
        out[name] = per
    out["matrix"] = [[sum(1 for a, b in zip(y, pred, strict=True) if (a, b) == (i, j)) for j in range(k)]
                     for i in range(k)]  # fmt: skip
    return out


def test_metrics_match_brute_force_loops() -> None:
    rng = np.random.default_rng(11)
    y = rng.choice(3, size=500, p=[0.5, 0.3, 0.2])
    pred = np.where(rng.random(500) < 0.7, y, rng.choice(3, size=500))
    scores = rng.dirichlet([2, 2, 2], size=500) * rng.uniform(0.9, 1.1, size=(500, 1))  # rows ~ sum 1
    got = multiclass_metrics(y, pred, CLASSES, scores)
    want = brute(list(y), list(pred), 3)
    for key in (
        "accuracy",
        *[f"{a}_{m}" for a in ("macro", "weighted") for m in ("precision", "recall", "f1")],
    ):
        assert got.values[key] == pytest.approx(want[key], abs=1e-12), key
    for c, name in enumerate(CLASSES):
        for m in ("precision", "recall", "f1"):
            assert got.per_class[name][m] == pytest.approx(want[m][c], abs=1e-12)
        assert got.per_class[name]["support"] == int((y == c).sum())
        assert got.per_class[name]["predicted"] == int((pred == c).sum())
    assert got.confusion == {"classes": list(CLASSES), "matrix": want["matrix"]}
    loss = 0.0
    for row, label in zip(scores, y, strict=True):
        loss -= math.log(row[label] / sum(row))
    assert got.values["log_loss"] == pytest.approx(loss / len(y), rel=1e-12)
    assert got.notes == {}


def test_undefined_figures_are_none_with_a_note() -> None:
    # 'account' (2) is never labelled nor predicted; 'technical' (1) is labelled but never predicted
    y = np.array([0, 0, 1, 1, 0])
    pred = np.array([0, 0, 0, 0, 0])
    got = multiclass_metrics(y, pred, CLASSES)
    assert got.per_class["account"] == {"precision": None, "recall": None, "f1": None, "support": 0,
                                        "predicted": 0}  # fmt: skip
    assert got.per_class["technical"]["precision"] is None and got.per_class["technical"]["f1"] == 0.0
    assert got.values["macro_f1"] == pytest.approx((2 * 3 / (3 + 5) + 0.0) / 2, abs=1e-12)
    assert "account" in got.notes["macro_f1"] and "technical" in got.notes["macro_precision"]
    assert got.values["log_loss"] is None
    empty = multiclass_metrics(np.array([], dtype=int), np.array([], dtype=int), CLASSES)
    assert empty.values["accuracy"] is None and empty.values["macro_f1"] is None and "all" in empty.notes


def test_bootstrap_standard_error_matches_the_spread_over_simulated_hours() -> None:
    """1000 simulated hours of 300 rows: the bootstrap standard error of one hour's macro F1 is within
    15 % of the standard deviation of macro F1 over the hours (the bootstrap's own noise at 200 draws is
    ~5 %; its bias at n = 300 a few %)."""
    rng = np.random.default_rng(5)
    truth = np.array([[0.35, 0.10, 0.05], [0.05, 0.22, 0.03], [0.04, 0.06, 0.10]])
    hours = rng.multinomial(300, truth.ravel(), size=1000).reshape(1000, 3, 3)
    macro = []
    for m in hours:
        y = np.repeat(np.arange(9) // 3, m.ravel())
        pred = np.repeat(np.arange(9) % 3, m.ravel())
        macro.append(multiclass_metrics(y, pred, CLASSES).values["macro_f1"])
    spread = float(np.std(macro, ddof=1))
    estimates = [macro_f1_standard_error(m) for m in hours[:40]]
    assert float(np.mean(estimates)) == pytest.approx(spread, rel=0.15)
    assert macro_f1_standard_error(hours[0]) == macro_f1_standard_error(hours[0])  # seeded
    assert macro_f1_standard_error(np.zeros((3, 3), dtype=int)) is None


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def simulate(rng: np.random.Generator, n: int, shares: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(over-confident scores, labels): labels are drawn from the softmax of noisy class evidence, the
    model reports the softmax of twice that evidence, so its scores need calibrating."""
    z = rng.choice(3, size=n, p=shares)
    logits = 1.8 * np.eye(3)[z] + rng.normal(0, 1.0, (n, 3)) + np.log(shares)
    truth = softmax(logits)
    y = (rng.random(n)[:, None] > np.cumsum(truth, axis=1)).sum(axis=1)
    return softmax(2 * logits), y


@pytest.mark.parametrize("seed", range(5))
def test_cbpe_is_within_three_standard_errors_of_realized_performance(seed: int) -> None:
    """Per-class calibrators fitted on 20k labelled reference rows (per-hour histograms merged, as the
    pipeline does); on a shifted hour of 2000 unlabelled rows (class shares changed) expected accuracy is
    within 3 standard errors of the realized one, the standard error being that of realized accuracy
    given the probabilities (sqrt(sum p(1-p)) / n); expected macro F1 within 3 bootstrap standard errors."""
    rng = np.random.default_rng([seed, 17])
    shares = [0.5, 0.3, 0.2]
    hours = [simulate(rng, 2000, shares) for _ in range(10)]
    calibrators = []
    for c in range(3):
        counts = [row for s, y in hours for row in calibration_counts((y == c).astype(float), s[:, c])]
        calibrators.append(calibrator_from_counts(counts, 100))
    scores, y = simulate(rng, 2000, [0.3, 0.3, 0.4])
    predicted = scores.argmax(axis=1)
    est = multiclass_cbpe(scores, predicted, calibrators)
    realized = multiclass_metrics(y, predicted, CLASSES)
    p = calibrated_probabilities(scores, calibrators)
    p_correct = p[np.arange(len(y)), predicted]
    se = math.sqrt(float((p_correct * (1 - p_correct)).sum())) / len(y)
    assert abs(est["estimated_accuracy"] - realized.values["accuracy"]) < 3 * se
    f1_se = macro_f1_standard_error(np.array(realized.confusion["matrix"]))
    assert abs(est["estimated_macro_f1"] - realized.values["macro_f1"]) < 3 * f1_se
    # the calibration is what makes it right: the raw, over-confident scores are off by > 3 SE
    naive = multiclass_cbpe(scores, predicted, [calibrator_from_counts([], 100)] * 3)
    assert naive["estimated_accuracy"] - realized.values["accuracy"] > 3 * se
