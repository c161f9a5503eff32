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

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.storage import duck, layout
from monitoring_pipeline.storage.warehouse import Warehouse

PREFIX = "monitoring_pipeline_"
HELP: dict[str, str] = {
    "last_partition_timestamp_seconds": "Start of the newest hour of prediction logs (Unix time).",
    "rows": "Rows in the newest hour of prediction logs.",
    "drift_partition_timestamp_seconds": "Start of the newest hour with drift results (Unix time).",
    "drift_share_ratio": "Share of features that drifted in the newest hour with drift results.",
    "drifted_features": "Number of features that drifted in the newest hour with drift results.",
    "feature_drift_score": "Drift score of each column in the newest hour with drift results.",
    "feature_drift_threshold": "Threshold the drift score is compared with.",
    "feature_drifted": "1 when the column drifted (past the threshold and significant) in the newest hour.",
    "check_passed": "1 when the latest evaluation of the check on its newest hour passed, else 0.",
    "check_partition_timestamp_seconds": "Start of the newest hour the check evaluated (Unix time).",
    "label_coverage_ratio": "Share of predictions labelled, newest hour past its coverage deadline.",
    "performance": "Realized performance in the newest hour with enough labels, per metric.",
    "performance_estimated": "CBPE estimate of performance in that same hour, per metric.",
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


def _latest(rows: Iterable[dict], key: str = "partition_hour") -> list[dict]:
    rows = list(rows)
    if not rows:
        return []
    newest = max(r[key] for r in rows)
    return [r for r in rows if r[key] == newest]


def collect(config: MonitorsConfig, wh: Warehouse, now: datetime | None = None) -> list[Sample]:
    now = now or datetime.now(UTC)
    out = Collector()
    for model in config.models:
        m = model.name
        logs = [o for o in wh.store.list(f"prediction_logs/{m}/") if o.key.endswith(".parquet")]
        hours = {h: o for o in logs if (h := layout.hour_from_key(o.key)) is not None}
        if hours:
            newest = max(hours)
            with duck.connect(s3=wh.on_s3) as conn:  # the file's footer only (a range request on S3)
                uri = wh.store.uri(hours[newest].key)
                [(rows,)] = conn.execute("SELECT count(*) FROM read_parquet(?)", [uri]).fetchall()
            out.add("last_partition_timestamp_seconds", newest, model=m)
            out.add("rows", rows, model=m)
        summary = _latest(wh.select(f"drift_summary/{m}/*/*.parquet"))
        if summary:
            s = summary[0]
            out.add("drift_partition_timestamp_seconds", s["partition_hour"], model=m)
            out.add("drift_share_ratio", s["drift_share"], model=m)
            out.add("drifted_features", s["drifted"], model=m)
            for r in wh.select(f"drift_metrics/{m}/*/*.parquet", "partition_hour = ?", [s["partition_hour"]]):
                labels = {"model": m, "feature": r["feature"], "role": r["role"], "test": r["test"]}
                out.add("feature_drift_score", r["score"], **labels)
                out.add("feature_drift_threshold", r["threshold"], **labels)
                out.add("feature_drifted", int(bool(r["drifted"])), model=m, feature=r["feature"])
        checks: dict[str, dict] = {}
        evaluations = wh.select(f"check_results/{m}/*/*.parquet")
        for r in sorted(evaluations, key=lambda r: (r["partition_hour"], r["evaluated_at"])):
            checks[r["check_name"]] = r  # the newest hour's latest evaluation wins
        for name, r in sorted(checks.items()):
            out.add("check_passed", int(bool(r["passed"])), model=m, check=name, severity=r["severity"])
            out.add("check_partition_timestamp_seconds", r["partition_hour"], model=m, check=name)
        if model.labels:
            cfg = model.labels
            perf = wh.select(f"model_performance/{m}/*/*.parquet", "predictions > 0")
            due = [
                r
                for r in perf
                if r["partition_hour"].timestamp() + 3600 * (1 + cfg.coverage_after_hours) <= now.timestamp()
            ]
            for r in _latest(due):
                out.add("label_coverage_ratio", r["label_coverage"], model=m)
            for r in _latest([r for r in perf if r["labelled"] >= cfg.min_labelled]):
                out.add("performance_partition_timestamp_seconds", r["partition_hour"], model=m)
                for metric in ("accuracy", "roc_auc", "f1", "log_loss", "brier", "mae", "rmse", "r2"):
                    out.add("performance", r.get(metric), model=m, metric=metric)
                for metric in ("accuracy", "roc_auc"):
                    out.add("performance_estimated", r.get(f"estimated_{metric}"), model=m, metric=metric)
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
