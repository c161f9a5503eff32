"""The hour report's section for a multiclass classifier (no Dagster here): the averages realized beside
their CBPE estimates, the per-class table (where a drop in one class's recall shows), and the confusion
matrix with the diagonal marked, from the `per_class` and `confusion` JSON of `model_performance`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from monitoring_pipeline.publish.charts import esc
from monitoring_pipeline.storage import catalog


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else esc(value)


def _averages(row: dict[str, Any]) -> str:
    names = ["accuracy", *catalog.MULTICLASS_METRICS, "log_loss"]
    estimated = {"accuracy": row.get("estimated_accuracy"), "macro_f1": row.get("estimated_macro_f1")}
    body = "".join(
        f"<tr><td>{n}</td><td>{_fmt(row.get(n))}</td><td>{_fmt(estimated.get(n))}</td></tr>" for n in names
    )
    head = "<tr><th>figure</th><th>realized</th><th>estimated (CBPE)</th></tr>"
    return f"<table id='multiclass-averages'>{head}{body}</table>"


def _per_class(per_class: dict[str, dict[str, Any]]) -> str:
    columns = ["support", "predicted", "precision", "recall", "f1", "estimated_precision",
               "estimated_recall", "estimated_f1"]  # fmt: skip
    head = "".join(f"<th>{c}</th>" for c in ["class", *columns])
    body = "".join(
        f"<tr data-class='{esc(name)}'><td>{esc(name)}</td>"
        + "".join(f"<td>{_fmt(figures.get(c))}</td>" for c in columns)
        + "</tr>"
        for name, figures in per_class.items()
    )
    return f"<table id='per-class'><tr>{head}</tr>{body}</table>"


def _confusion(confusion: dict[str, Any]) -> str:
    classes, matrix = confusion["classes"], confusion["matrix"]
    head = "".join(f"<th>predicted {esc(c)}</th>" for c in classes)
    rows = []
    for i, (name, counts) in enumerate(zip(classes, matrix, strict=True)):
        cells = "".join(
            f"<td style='{'font-weight:600;background:#e3f8e6' if i == j else ''}'>{n}</td>"
            for j, n in enumerate(counts)
        )
        rows.append(f"<tr><th>labelled {esc(name)}</th>{cells}</tr>")
    return f"<table id='confusion'><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def multiclass_section(performance: Sequence[dict[str, Any]]) -> str:
    """Empty unless the hour's performance row is a multiclass model's (it has a confusion matrix)."""
    row = next((r for r in performance if r.get("confusion")), None)
    if row is None:
        return ""
    per_class = json.loads(row["per_class"] or "{}")
    return (
        "<h3>Multiclass: averages</h3>"
        + _averages(row)
        + "<h3>Per class (realized; estimated by one-vs-rest CBPE)</h3>"
        + _per_class(per_class)
        + "<h3>Confusion matrix (labelled rows: row = label, column = predicted)</h3>"
        + _confusion(json.loads(row["confusion"]))
    )
