"""One hour of a multiclass classifier's performance, from the joined predictions and labels (no Dagster,
no I/O: `performance.performance_hour` reads the rows and stores the result).

Classes are coded in the order `labels.classes` lists them. A label or a predicted class outside that list
is an error naming the model, the column and the values: a new class is a model change the config has to
follow, not a row to drop silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.stats.multiclass import (
    macro_f1_standard_error,
    multiclass_cbpe,
    multiclass_metrics,
)
from monitoring_pipeline.stats.performance_metrics import (
    calibration_counts,
    calibrator_from_counts,
)


@dataclass(frozen=True)
class MulticlassHour:
    metrics: dict[str, float | None]
    notes: dict[str, str]
    metric_se: float | None
    estimated: dict[str, float | None]
    calibration: dict[str, list[dict[str, int]]]  # class -> its one-vs-rest logit-bin counts
    per_class: dict[str, dict[str, Any]]
    confusion: dict[str, Any]


def class_codes(model: ModelConfig, values: np.ndarray, column: str, role: str) -> np.ndarray:
    """The codes of `values` in `labels.classes`; an unknown (or null) value is an error naming it.
    Hash-based (pandas.factorize), one pass: a million rows take milliseconds, not a Python loop."""
    classes = list(model.labels.classes or ())  # type: ignore[union-attr]
    codes, uniques = pd.factorize(pd.Series(values, dtype=object).astype("string"))
    unknown = sorted(str(u) for u in uniques if u not in classes)
    if (codes < 0).any():
        unknown.insert(0, "null")
    if unknown:
        raise ValueError(
            f"model {model.name!r}: {role} column {column!r} holds {unknown[:5]}, not among labels.classes "
            f"{classes} (add the class to the monitors file)"
        )
    lookup = np.array([classes.index(u) for u in uniques], dtype=np.int64)
    return lookup[codes] if len(codes) else np.array([], dtype=np.int64)


def merged_calibrators(model: ModelConfig, reference: Sequence[dict[str, Any]]) -> list[Any]:
    """One calibrator per class from the reference hours' per-class histograms (as for binary models)."""
    cfg = model.labels
    assert cfg is not None and cfg.classes is not None
    out = []
    for cls in cfg.classes:
        rows = [row for r in reference if isinstance(r["calibration"], dict)
                for row in r["calibration"].get(cls, [])]  # fmt: skip
        out.append(calibrator_from_counts(rows, cfg.min_labelled))
    return out


def multiclass_hour(
    model: ModelConfig, data: dict[str, np.ndarray], reference: Sequence[dict[str, Any]]
) -> MulticlassHour:
    """Realized metrics on the labelled rows, the standard error of macro F1 (bootstrap of the confusion
    matrix), and, with score columns, per-class calibration counts and CBPE on every prediction."""
    cfg = model.labels
    assert cfg is not None and cfg.classes is not None and cfg.class_column is not None
    classes, has_label = list(cfg.classes), np.asarray(data["has_label"], dtype=bool)
    predicted = class_codes(model, np.asarray(data[cfg.class_column]), cfg.class_column, "predicted class")
    y = class_codes(model, np.asarray(data["label"][has_label]), cfg.column, "label")
    scores = None
    if cfg.score_columns:
        scores = np.column_stack([np.asarray(data[cfg.score_columns[c]], dtype=float) for c in classes])
    result = multiclass_metrics(
        y, predicted[has_label], classes, None if scores is None else scores[has_label]
    )
    se = macro_f1_standard_error(np.array(result.confusion["matrix"]))
    estimated: dict[str, float | None] = {}
    calibration: dict[str, list[dict[str, int]]] = {}
    per_class = {c: dict(v) for c, v in result.per_class.items()}
    if scores is not None:
        clean = np.nan_to_num(scores, nan=0.0)
        labelled = clean[has_label]
        calibration = {
            c: calibration_counts((y == i).astype(float), labelled[:, i]) for i, c in enumerate(classes)
        }
        cbpe = multiclass_cbpe(clean, predicted, merged_calibrators(model, reference))
        estimated = {k: cbpe[k] for k in ("estimated_accuracy", "estimated_macro_f1")}
        for i, c in enumerate(classes):
            for name, value in cbpe["per_class"].get(i, {}).items():
                per_class[c][f"estimated_{name}"] = value
    return MulticlassHour(
        result.values, result.notes, se, estimated, calibration, per_class, result.confusion
    )
