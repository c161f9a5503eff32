"""Model performance from predictions joined to their labels, and confidence-based performance
estimation (CBPE) before labels arrive. Pure numpy: no Dagster, no I/O.

Conventions: `y` is 1 for the positive class and 0 otherwise; `score` is the model's probability of
the positive class; `predicted` is the predicted class as 0/1. A metric that is undefined for the data
(ROC AUC with one class, precision with no positive prediction, MAPE with every target zero) is None,
and `notes` says why, so a report never shows a made-up number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

EPS = 1e-15
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Metrics:
    values: dict[str, float | None]
    notes: dict[str, str] = field(default_factory=dict)


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Mann-Whitney form: the probability that a random positive outranks a random negative (ties 1/2)."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def expected_calibration_error(
    y: np.ndarray, score: np.ndarray, bins: int = CALIBRATION_BINS
) -> float | None:
    """Equal-width bins over [0, 1]: sum over bins of (bin share) x |mean score - positive rate|."""
    if len(y) == 0:
        return None
    index = np.minimum((score * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    mean_score = np.bincount(index, weights=score, minlength=bins)
    positives = np.bincount(index, weights=y, minlength=bins)
    used = counts > 0
    gaps = np.abs(mean_score[used] - positives[used]) / counts[used]
    return float((counts[used] / len(y) * gaps).sum())


def classification_metrics(y: np.ndarray, predicted: np.ndarray, score: np.ndarray | None) -> Metrics:
    y = np.asarray(y, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    n = len(y)
    tp = int(((predicted == 1) & (y == 1)).sum())
    fp = int(((predicted == 1) & (y == 0)).sum())
    fn = int(((predicted == 0) & (y == 1)).sum())
    notes: dict[str, str] = {}
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    if precision is None:
        notes["precision"] = "no positive prediction"
    if recall is None:
        notes["recall"] = "no positive label"
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    values: dict[str, float | None] = {
        "accuracy": _ratio(int((predicted == y).sum()), n),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "positive_rate": _ratio(int(y.sum()), n),
        "roc_auc": None,
        "log_loss": None,
        "brier": None,
        "calibration_error": None,
    }
    if score is not None and n:
        p = np.clip(np.asarray(score, dtype=float), EPS, 1 - EPS)
        values["roc_auc"] = roc_auc(y, p)
        if values["roc_auc"] is None:
            notes["roc_auc"] = "undefined: only one class among the labels"
        values["log_loss"] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        values["brier"] = float(np.mean((np.asarray(score, dtype=float) - y) ** 2))
        values["calibration_error"] = expected_calibration_error(y, np.asarray(score, dtype=float))
    if n == 0:
        notes["all"] = "no labelled prediction"
    return Metrics(values, notes)


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> Metrics:
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    notes: dict[str, str] = {}
    if len(actual) == 0:
        keys = ("mae", "rmse", "mape", "r2")
        return Metrics(dict.fromkeys(keys), {"all": "no labelled prediction"})
    error = predicted - actual
    nonzero = actual != 0
    mape = float(np.mean(np.abs(error[nonzero] / actual[nonzero]))) if nonzero.any() else None
    if not nonzero.all():
        notes["mape"] = f"{int((~nonzero).sum())} zero target(s) left out"
    total = float(((actual - actual.mean()) ** 2).sum())
    r2 = 1 - float((error**2).sum()) / total if total > 0 else None
    if r2 is None:
        notes["r2"] = "undefined: the targets do not vary"
    values: dict[str, float | None] = {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": mape,
        "r2": r2,
    }
    return Metrics(values, notes)


@dataclass(frozen=True)
class Calibrator:
    """Histogram binning (Zadrozny & Elkan): each bin of scores maps to its observed positive rate.
    Identity when the reference holds too few labels to bin."""

    edges: np.ndarray
    rates: np.ndarray

    def __call__(self, score: np.ndarray) -> np.ndarray:
        if len(self.rates) == 0:
            return np.clip(np.asarray(score, dtype=float), 0.0, 1.0)
        index = np.clip(np.searchsorted(self.edges, score, side="right") - 1, 0, len(self.rates) - 1)
        return self.rates[index]


# Calibration histogram kept per hour (mergeable over any window): equal-width bins in log-odds space,
# so scores near 0 or 1 (fraud models live there) keep their resolution.
LOGIT_EDGES = np.r_[-np.inf, np.linspace(-8, 8, 33), np.inf]


def calibration_counts(y: np.ndarray, score: np.ndarray) -> list[dict[str, int]]:
    """Per logit bin with labels: how many labelled rows and how many positives (mergeable over hours)."""
    p = np.clip(np.asarray(score, dtype=float), 1e-12, 1 - 1e-12)
    logit = np.log(p / (1 - p))
    index = np.clip(np.searchsorted(LOGIT_EDGES, logit, side="right") - 1, 0, len(LOGIT_EDGES) - 2)
    counts = np.bincount(index, minlength=len(LOGIT_EDGES) - 1)
    positives = np.bincount(index, weights=y, minlength=len(LOGIT_EDGES) - 1)
    return [
        {"bin": int(b), "n": int(counts[b]), "positives": int(positives[b])} for b in np.flatnonzero(counts)
    ]


def calibrator_from_counts(rows: Sequence[dict[str, int]], min_labelled: int) -> Calibrator:
    """Histogram binning on the fixed logit bins, one pseudo-count of the overall rate per bin; the
    identity when the window holds fewer than `min_labelled` labels."""
    counts = np.zeros(len(LOGIT_EDGES) - 1)
    positives = np.zeros(len(LOGIT_EDGES) - 1)
    for r in rows:
        counts[r["bin"]] += r["n"]
        positives[r["bin"]] += r["positives"]
    if counts.sum() < min_labelled:
        return Calibrator(np.array([]), np.array([]))
    prior = positives.sum() / counts.sum()
    rates = (positives + prior) / (counts + 1)
    # the calibrator maps raw scores: convert the logit edges back to score space
    with np.errstate(over="ignore"):
        edges = 1 / (1 + np.exp(-LOGIT_EDGES))
    edges[0], edges[-1] = -np.inf, np.inf
    return Calibrator(edges, rates)


def fit_calibrator(y: np.ndarray, score: np.ndarray, min_labelled: int = 100) -> Calibrator:
    """The calibrator of labelled scores, fitted in one go (the pipeline merges per-hour counts instead)."""
    return calibrator_from_counts(calibration_counts(np.asarray(y, dtype=float), score), min_labelled)


def cbpe(score: np.ndarray, predicted: np.ndarray, calibrate: Calibrator) -> dict[str, float | None]:
    """Expected accuracy and ROC AUC of unlabelled predictions, given calibrated probabilities p_i:
    each row is correct with probability p_i (predicted positive) or 1 - p_i (negative); ROC AUC is the
    area under the expected ROC curve, TPR(t) = sum_{s_i >= t} p_i / sum p_i and FPR(t) likewise with
    1 - p_i (NannyML's CBPE)."""
    score = np.asarray(score, dtype=float)
    if len(score) == 0:
        return {"estimated_accuracy": None, "estimated_roc_auc": None}
    p = calibrate(score)
    predicted = np.asarray(predicted, dtype=np.int64)
    accuracy = float(np.mean(np.where(predicted == 1, p, 1 - p)))
    order = np.argsort(-score, kind="stable")
    s, pp = score[order], p[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]  # thresholds between distinct scores only
    tpr = np.r_[0.0, np.cumsum(pp)[last_of_tie]]
    fpr = np.r_[0.0, np.cumsum(1 - pp)[last_of_tie]]
    auc = None
    if tpr[-1] > 0 and fpr[-1] > 0:
        auc = float(np.trapezoid(tpr / tpr[-1], fpr / fpr[-1]))
    return {"estimated_accuracy": accuracy, "estimated_roc_auc": auc}
