"""Multiclass classifiers: realized performance from a confusion matrix, and one-vs-rest CBPE before the
labels arrive. Pure numpy: no Dagster, no I/O.

Conventions: classes are numbered 0..k-1 in the order the config lists them; `y` and `predicted` are
those codes; `scores` is an n x k matrix, column c the model's probability of class c. A figure that is
undefined for the data (precision of a class never predicted, recall of a class absent from the labels)
is None and `notes` says why, as for binary classifiers.

F1 of a class is 2 TP / (labelled as c + predicted as c): the harmonic mean of precision and recall
where both exist, and 0 for a class that has labels but is never predicted (or predicted but never the
label), which is what an incident looks like; it is undefined only for a class absent from both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitoring_pipeline.stats.performance_metrics import EPS, Calibrator

BOOTSTRAP_DRAWS = 200
PER_CLASS = ("precision", "recall", "f1")


@dataclass(frozen=True)
class MulticlassMetrics:
    values: dict[str, float | None]  # accuracy, macro_* and weighted_* (catalog.MULTICLASS_METRICS), log_loss
    per_class: dict[str, dict[str, Any]]  # class -> precision, recall, f1, support, predicted
    confusion: dict[str, Any]  # {"classes": [...], "matrix": [[labelled i, predicted j]]}
    notes: dict[str, str] = field(default_factory=dict)


def confusion_matrix(y: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """k x k counts: row = label, column = predicted class."""
    y, predicted = np.asarray(y, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    return np.bincount(y * k + predicted, minlength=k * k).reshape(k, k)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def class_figures(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per class (NaN where undefined): precision, recall, F1 from TP, labelled (support) and predicted
    counts, which may be expected (fractional) counts (CBPE)."""
    tp = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1).astype(float), matrix.sum(axis=0).astype(float)
    return {
        "precision": _div(tp, predicted),
        "recall": _div(tp, support),
        "f1": _div(2 * tp, support + predicted),
        "support": support,
        "predicted": predicted,
    }


def macro_f1(matrix: np.ndarray) -> float | None:
    """The mean F1 over the classes for which it is defined (None if none is)."""
    f1 = class_figures(matrix)["f1"]
    return float(np.nanmean(f1)) if np.isfinite(f1).any() else None


def _mean(values: np.ndarray, weights: np.ndarray) -> float | None:
    used = np.isfinite(values) & (weights > 0)
    return float((values[used] * weights[used]).sum() / weights[used].sum()) if used.any() else None


def multiclass_metrics(
    y: np.ndarray, predicted: np.ndarray, classes: Sequence[str], scores: np.ndarray | None = None
) -> MulticlassMetrics:
    """Accuracy, per-class precision / recall / F1, their macro (unweighted) and weighted (by support)
    means over the classes where each is defined, the confusion matrix, and the log loss of the scores
    (each row renormalized to sum 1 after clipping at 1e-15, so a model whose scores do not quite sum
    to 1 is judged on the distribution it implies)."""
    k, n = len(classes), len(y)
    matrix = confusion_matrix(y, predicted, k)
    fig = class_figures(matrix)
    notes: dict[str, str] = {}
    values: dict[str, float | None] = {"accuracy": float(np.trace(matrix) / n) if n else None}
    for name in PER_CLASS:
        undefined = [classes[c] for c in np.flatnonzero(~np.isfinite(fig[name]))]
        if undefined and n:
            why = "never predicted" if name == "precision" else "absent from the labels"
            why = "absent from labels and predictions" if name == "f1" else why
            notes[f"macro_{name}"] = f"left out: {', '.join(undefined)} ({why})"
        values[f"macro_{name}"] = _mean(fig[name], np.ones(k))
        values[f"weighted_{name}"] = _mean(fig[name], fig["support"])
    values["log_loss"] = None
    if scores is not None and n:
        p = np.clip(np.asarray(scores, dtype=float), EPS, 1.0)
        usable = np.isfinite(p).all(axis=1)
        if not usable.all():
            notes["log_loss"] = f"{int((~usable).sum())} row(s) with a missing score left out"
        if usable.any():
            p = p[usable] / p[usable].sum(axis=1, keepdims=True)
            values["log_loss"] = float(-np.mean(np.log(p[np.arange(len(p)), np.asarray(y)[usable]])))
    if n == 0:
        notes["all"] = "no labelled prediction"
    per_class = {
        cls: {
            **{name: None if np.isnan(fig[name][c]) else float(fig[name][c]) for name in PER_CLASS},
            "support": int(fig["support"][c]),
            "predicted": int(fig["predicted"][c]),
        }
        for c, cls in enumerate(classes)
    }
    confusion = {"classes": list(classes), "matrix": matrix.tolist()}
    return MulticlassMetrics(values, per_class, confusion, notes)


def macro_f1_standard_error(matrix: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> float | None:
    """Sampling error of the hour's macro F1: the spread of macro F1 over multinomial resamples of the
    confusion matrix (the bootstrap of the labelled rows, which only enter through their cell), seeded so
    a recomputation gives the same figure; its cost depends on k, not on the number of rows."""
    n = int(matrix.sum())
    if n < 2 or macro_f1(matrix) is None:
        return None
    k = matrix.shape[0]
    rng = np.random.default_rng(seed)
    samples = rng.multinomial(n, matrix.ravel() / n, size=draws).reshape(draws, k, k)
    tp = np.diagonal(samples, axis1=1, axis2=2).astype(float)
    den = samples.sum(axis=2) + samples.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)
    defined = np.isfinite(f1).any(axis=1)
    macro = np.nanmean(f1[defined], axis=1)
    return float(np.std(macro, ddof=1)) if len(macro) > 1 else None


# ------------------------------------------------------------------------------------------------ CBPE


def calibrated_probabilities(scores: np.ndarray, calibrators: Sequence[Calibrator]) -> np.ndarray:
    """Each class's score through its one-vs-rest calibrator, each row renormalized to sum 1 (a row
    whose calibrated figures are all 0 gets the uniform distribution)."""
    scores = np.asarray(scores, dtype=float)
    p = np.column_stack([cal(scores[:, c]) for c, cal in enumerate(calibrators)]) if len(scores) else scores
    total = p.sum(axis=1, keepdims=True)
    k = len(calibrators)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, p / np.where(total > 0, total, 1), 1.0 / k)


def expected_confusion(p: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """E[confusion matrix] given each row's class probabilities: row i adds p_i to the column of its
    predicted class (the label is c with probability p_ic)."""
    out = np.zeros((k, k))
    predicted = np.asarray(predicted, dtype=np.int64)
    for j in range(k):
        out[:, j] = p[predicted == j].sum(axis=0)
    return out


def multiclass_cbpe(
    scores: np.ndarray, predicted: np.ndarray, calibrators: Sequence[Calibrator]
) -> dict[str, Any]:
    """NannyML's multiclass CBPE: expected accuracy is the mean calibrated probability of the predicted
    class; each class's expected precision, recall and F1 are one-vs-rest from the expected confusion
    (TP_c = sum of p_c over rows predicted c, FP_c = sum of 1 - p_c over them, FN_c = sum of p_c over the
    others); expected macro F1 is their mean."""
    k = len(calibrators)
    if len(scores) == 0:
        return {"estimated_accuracy": None, "estimated_macro_f1": None, "per_class": {}}
    p = calibrated_probabilities(scores, calibrators)
    predicted = np.asarray(predicted, dtype=np.int64)
    matrix = expected_confusion(p, predicted, k)
    fig = class_figures(matrix)
    return {
        "estimated_accuracy": float(np.mean(p[np.arange(len(p)), predicted])),
        "estimated_macro_f1": macro_f1(matrix),
        "per_class": {
            c: {name: None if np.isnan(fig[name][c]) else float(fig[name][c]) for name in PER_CLASS}
            for c in range(k)
        },
    }
