"""The latest figures per model in the Prometheus text exposition format (no Dagster here).

Why a textfile for node_exporter's textfile collector rather than an exporter endpoint: this pipeline is a
batch job. Prometheus' own guidance for batch jobs on a machine is the textfile collector (or the
Pushgateway where there is no node_exporter): no extra long-running process or open port, and the file is
replaced atomically (written aside, then renamed), so a scrape never reads half of it. The alert sensor's
daemon rewrites it every minute (sensor `prometheus_textfile`); `monitoring-pipeline metrics` prints it.

Names follow the conventions: one `monitoring_pipeline_` prefix, base units (`_seconds`), `_ratio` for
shares, no `_total` (nothing here is a counter), label values from the config and the data only.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse

PREFIX = "monitoring_pipeline_"
# how far before a model's newest hour its performance figures are looked for
PERFORMANCE_LOOKBACK = timedelta(days=7)
HELP: dict[str, str] = {
    "last_partition_timestamp_seconds": "Start of the newest hour of prediction logs (Unix time).",
    "rows": "Rows in the newest hour of prediction logs.",
    "drift_partition_timestamp_seconds": "Start of the newest hour with drift results (Unix time).",
    "drift_share_ratio": "Share of features that drifted in the newest hour with drift results.",
    "drifted_features": "Number of features that drifted in the newest hour with drift results.",
    "segments_judged": "Segments with enough rows to be judged in the newest hour with drift results.",
    "segments_drifted": "Judged segments in which a column drifted, in the newest hour with drift results.",
    "feature_drift_score": "Drift score of each column in the newest hour with drift results.",
    "feature_drift_threshold": "Threshold the drift score is compared with.",
    "feature_drifted": "1 when the column drifted (past the threshold and significant) in the newest hour.",
    "multivariate_reconstruction_error": "Mean PCA reconstruction error of the newest hour with a result.",
    "multivariate_threshold": "Edges of that hour's band (bound: lower / upper).",
    "multivariate_drifted": "1 when that hour's reconstruction error left its band.",
    "multivariate_partition_timestamp_seconds": "Start of the newest hour with multivariate drift.",
    "check_passed": "1 when the latest evaluation of the check on its newest hour passed, else 0.",
    "check_partition_timestamp_seconds": "Start of the newest hour the check evaluated (Unix time).",
    "label_coverage_ratio": "Share of predictions labelled, newest hour past its coverage deadline.",
    "performance": "Realized performance in the newest hour with enough labels, per metric.",
    "performance_estimated": "CBPE estimate of performance in that same hour, per metric.",
    "performance_per_class": "Multiclass models: realized precision, recall and F1 of each class, same hour.",
    "performance_partition_timestamp_seconds": "Start of the hour the performance figures describe.",
    "generated_timestamp_seconds": "When this file was written (Unix time).",
}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Collector:
    samples: list[Sample] = field(default_factory=list)

    def add(self, name: str, value: Any, **labels: str) -> None:
        if value is None:
            return
        if isinstance(value, datetime):
            value = value.timestamp()
        self.samples.append(Sample(name, labels, float(value)))


def _newest(wh: Warehouse, table: sa.Table, model: str, *where: sa.ColumnElement[bool]) -> dict | None:
    """The model's row of the newest hour (matching `where`), by index."""
    stmt = sa.select(table).where(table.c.model == model, *where)
    rows = wh.results.rows(stmt.order_by(table.c.partition_hour.desc()).limit(1))
    return rows[0] if rows else None


def latest_checks(wh: Warehouse, model: str) -> list[dict]:
    """Each check's latest evaluation on its newest hour, by index: a loose index scan over the check
    names (one seek per check, however long the history), then one seek per check for its newest hour."""
    t = catalog.check_results
    inner = t.alias("inner")
    first = sa.select(sa.func.min(t.c.check_name).label("name")).where(t.c.model == model)
    names = first.cte("check_names", recursive=True)
    after = (
        sa.select(sa.func.min(inner.c.check_name))
        .where(inner.c.model == model, inner.c.check_name > names.c.name)
        .correlate(names)
    )
    names = names.union_all(sa.select(after.scalar_subquery()).where(names.c.name.is_not(None)))
    newest = (
        sa.select(sa.func.max(inner.c.partition_hour))
        .where(inner.c.model == model, inner.c.check_name == names.c.name)
        .correlate(names)
        .scalar_subquery()
    )
    stmt = sa.select(t).join(names, sa.and_(t.c.model == model, t.c.check_name == names.c.name))
    return wh.results.rows(stmt.where(t.c.partition_hour == newest), sort=["check_name"])


def collect(config: MonitorsConfig, wh: Warehouse, now: datetime | None = None) -> list[Sample]:
    """The latest figures of every model. Every read is by index (the newest row of a model), so the
    cost is the same after a year of history as on the first day."""
    now = now or datetime.now(UTC)
    out = Collector()
    for model in config.models:
        m = model.name
        facts = _newest(wh, catalog.hour_facts, m)
        if facts:
            out.add("last_partition_timestamp_seconds", facts["partition_hour"], model=m)
            out.add("rows", facts["rows"], model=m)
        summary = _newest(wh, catalog.drift_summary, m)
        if summary:
            out.add("drift_partition_timestamp_seconds", summary["partition_hour"], model=m)
            out.add("drift_share_ratio", summary["drift_share"], model=m)
            out.add("drifted_features", summary["drifted"], model=m)
            if model.segments:
                segments = wh.results.hour_rows(catalog.segment_drift_summary, m, [summary["partition_hour"]])
                out.add("segments_judged", sum(bool(s["judged"]) for s in segments), model=m)
                out.add("segments_drifted", sum(bool(s["drifted"]) for s in segments), model=m)
            for r in wh.results.hour_rows(catalog.drift_metrics, m, [summary["partition_hour"]]):
                labels = {"model": m, "feature": r["feature"], "role": r["role"], "test": r["test"]}
                out.add("feature_drift_score", r["score"], **labels)
                out.add("feature_drift_threshold", r["threshold"], **labels)
                out.add("feature_drifted", int(bool(r["drifted"])), model=m, feature=r["feature"])
        multivariate = _newest(wh, catalog.multivariate_drift, m)
        if multivariate:
            out.add("multivariate_partition_timestamp_seconds", multivariate["partition_hour"], model=m)
            out.add("multivariate_reconstruction_error", multivariate["reconstruction_error"], model=m)
            for bound in ("lower", "upper"):
                out.add("multivariate_threshold", multivariate[f"{bound}_threshold"], model=m, bound=bound)
            out.add("multivariate_drifted", int(bool(multivariate["drifted"])), model=m)
        for r in latest_checks(wh, m):
            name = r["check_name"]
            out.add("check_passed", int(bool(r["passed"])), model=m, check=name, severity=r["severity"])
            out.add("check_partition_timestamp_seconds", r["partition_hour"], model=m, check=name)
        if model.labels:
            cfg = model.labels
            p = catalog.model_performance
            due_before = now - timedelta(hours=1 + cfg.coverage_after_hours)
            # both look back a bounded window from the newest hour: a model whose labels stopped coming must
            # not scan its whole history every minute
            newest = _newest(wh, p, m)
            anchor = newest["partition_hour"] if newest else now
            recent = p.c.partition_hour >= anchor - PERFORMANCE_LOOKBACK - timedelta(
                hours=cfg.max_delay_hours
            )
            due = _newest(wh, p, m, recent, p.c.predictions > 0, p.c.partition_hour <= due_before)
            if due:
                out.add("label_coverage_ratio", due["label_coverage"], model=m)
            judged = _newest(wh, p, m, recent, p.c.predictions > 0, p.c.labelled >= cfg.min_labelled)
            if judged:
                out.add("performance_partition_timestamp_seconds", judged["partition_hour"], model=m)
                for metric in ("accuracy", "roc_auc", "f1", "log_loss", "brier", "mae", "rmse", "r2",
                               "macro_f1", "weighted_f1"):  # fmt: skip
                    out.add("performance", judged.get(metric), model=m, metric=metric)
                for cls, figures in json.loads(judged.get("per_class") or "{}").items():
                    for metric in ("precision", "recall", "f1"):
                        labels = {"model": m, "class": cls, "metric": metric}
                        out.add("performance_per_class", figures.get(metric), **labels)
                for metric in ("accuracy", "roc_auc", "macro_f1"):
                    out.add(
                        "performance_estimated", judged.get(f"estimated_{metric}"), model=m, metric=metric
                    )
    out.add("generated_timestamp_seconds", now)
    return out.samples


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(samples: list[Sample]) -> str:
    """The text exposition format: HELP and TYPE once per family, then its samples."""
    lines: list[str] = []
    for name, text in HELP.items():
        family = [s for s in samples if s.name == name]
        if not family:
            continue
        lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} gauge"]
        for s in family:
            labels = ",".join(f'{k}="{_label_value(v)}"' for k, v in s.labels.items())
            lines.append(
                f"{PREFIX}{name}{{{labels}}} {_number(s.value)}"
                if labels
                else f"{PREFIX}{name} {_number(s.value)}"
            )
    return "\n".join(lines) + "\n"


def write_textfile(path: str, text: str) -> None:
    """Replace `path` atomically (node_exporter must never read half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".monitoring-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
