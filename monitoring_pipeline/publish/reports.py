"""Self-contained HTML drift reports (no Dagster here): one per model and hour, and a window report.

A report is one HTML file with inline CSS and inline SVG: no script, font or image is fetched when it is
opened, so it can be mailed, archived or opened from object storage offline. The hour report draws, per
feature, the reference and the current distribution one over the other (from the stored profiles; the
charts are in publish/charts.py), with the test, score, threshold and verdict, then the hour's
data-quality results, performance, and alerts: whether the alert sensor has processed the hour's checks
yet, and the alerts it raised.
The window report is a heat map of drift scores (score / threshold) per feature and hour.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from monitoring_pipeline.alerts import dispatch
from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline.references import MissingInputError, load_profiles, load_reference
from monitoring_pipeline.publish.charts import chart, esc
from monitoring_pipeline.publish.multiclass_report import multiclass_section
from monitoring_pipeline.publish.multivariate_report import multivariate_section
from monitoring_pipeline.stats.drift.segments import WORST, rank_key
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2933;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .sub{color:#52606d;margin:0 0 16px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #d9e2ec;padding:4px 8px;text-align:left}
th{background:#f0f4f8} .cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #d9e2ec;border-radius:6px;padding:10px;width:380px}
.card.drifted{border:2px solid #d64545} .findings{margin:4px 0;padding-left:18px;font-size:12px} .finding.fired{color:#a61b1b} .badge{font-size:11px;padding:1px 6px;border-radius:8px;color:#fff}
.badge.drifted{background:#d64545} .badge.ok{background:#3f9142} .badge.no_data{background:#9aa5b1} .badge.no_reference{background:#7b8794}
.fail{color:#d64545;font-weight:600} .pass{color:#3f9142} .legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.heat td{width:16px;height:16px;padding:0;border:1px solid #fff} .heat th{font-weight:normal;font-size:11px}
"""


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return esc(value)


def _table(rows: Sequence[dict], columns: Sequence[str], css: str = "") -> str:
    if not rows:
        return "<p class='sub'>none</p>"
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if c == "passed":
                cells.append(f"<td class='{'pass' if v else 'fail'}'>{'passed' if v else 'FAILED'}</td>")
            else:
                cells.append(f"<td>{_fmt(v)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table class='{css}'><tr>{head}</tr>{''.join(body)}</table>"


def _findings(row: dict) -> str:
    """What the column's drift battery found, in words: the findings that fired first (the reason the
    column is drifted), then the others with their effect against its floor."""
    details = json.loads(row["details"]) if row.get("details") else {}
    findings = details.get("findings") or []
    if not findings:
        return ""
    items = []
    for f in sorted(findings, key=lambda f: not f["fired"]):
        figures = f"effect {_fmt(f['effect'])} vs floor {_fmt(f['floor'])}, adjusted p {_fmt(f['adjusted_p_value'])}"
        css = "fired" if f["fired"] else "quiet"
        items.append(
            f"<li class='finding {css}' data-test='{esc(f['test'])}' data-fired='{str(f['fired']).lower()}'>"
            f"<b>{esc(f['test'])}</b>: {esc(f['words'])} <span class='sub'>({esc(figures)})</span></li>"
        )
    return f"<ul class='findings'>{''.join(items)}</ul>"


def alert_state(wh: Warehouse, model: str, hour: datetime, checks: Sequence[dict]) -> tuple[str, str]:
    """Whether the hour's alerts are final, as (state, sentence): the alert sensor has processed the
    latest evaluation of every check of the hour ("processed"), some ("partial"), none ("waiting"), or
    there is no check ("no_checks"). By index: the hour's evaluations, whatever the history."""
    if not checks:
        return (
            "no_checks",
            "No check has been evaluated for this hour: nothing for the alert sensor to process.",
        )
    waiting = dispatch.unprocessed_checks(wh.results, model, hour, checks)
    if len(waiting) == len(checks):
        return "waiting", "The alert sensor has not processed this hour's checks yet: alerts may follow."
    if waiting:
        return "partial", (
            f"The alert sensor has processed {len(checks) - len(waiting)} of this hour's {len(checks)} checks; "
            f"not yet: {', '.join(sorted(waiting))}."
        )
    return "processed", "The alert sensor has processed every check of this hour."


def alerts_section(wh: Warehouse, model: str, hour: datetime, checks: Sequence[dict]) -> str:
    """The alert sensor's progress on the hour, then its alerts (one row per alert and sink)."""
    state, sentence = alert_state(wh, model, hour, checks)
    alerts = [a for a in wh.results.hour_rows(catalog.alerts, model, [hour]) if a["created_at"] is not None]
    if state == "processed" and not alerts:
        passed = all(c["passed"] for c in checks)
        sentence += " No alert: every check passed." if passed else " No alert is recorded for this hour."
    status = f"<p class='sub' id='alert-status' data-state='{state}'>{esc(sentence)}</p>"
    if not alerts:
        return status
    return status + _table(
        alerts, ["created_at", "severity", "check_name", "description", "sink", "delivery_state"]
    )


def segments_section(model: ModelConfig, hour: datetime, wh: Warehouse, top: int = WORST) -> str:
    """The worst segments of the hour (most drifted columns, then the strongest evidence), or why none."""
    if not model.segments:
        return ""
    rows = wh.results.hour_rows(catalog.segment_drift_summary, model.name, [hour])
    judged = [r for r in rows if r["judged"]]

    worst = sorted(judged, key=lambda r: rank_key(r["drifted"], r["min_q_value"], r["segment"]))[:top]
    drifted = [r for r in judged if r["drifted"]]
    sentence = (
        f"{len(drifted)} of {len(judged)} judged segments drifted ({len(rows)} segments of "
        f"{', '.join(model.segments)}; judged from {model.thresholds.min_segment_rows} rows in the hour and "
        "the reference)."
    )
    for r in worst:
        r["drifted_columns"] = ", ".join(json.loads(r["drifted_features"] or "[]")) or "-"
    columns = ["segment", "rows", "reference_rows", "drifted", "drifted_columns", "min_q_value"]
    return (
        f"<h2>Segments: the worst {len(worst)}</h2><p class='sub' id='segments'>{esc(sentence)}</p>"
        + _table(worst, columns)
    )


def hour_report(model: ModelConfig, hour: datetime, wh: Warehouse) -> str:
    """The HTML report of one model and hour (drift must have been computed for it)."""
    drift = wh.results.hour_rows(catalog.drift_metrics, model.name, [hour])
    if not drift:
        raise ValueError(f"{model.name}: no drift results for {hour:%Y-%m-%d %H}:00 UTC")
    summary = next(iter(wh.results.hour_rows(catalog.drift_summary, model.name, [hour])), {})
    current = load_profiles(wh, catalog.feature_profiles, model.name, [hour]).get(hour, {})
    try:
        window, reference = load_reference(model, hour, wh)
    except MissingInputError:  # a report without reference charts beats no report
        window, reference = "reference not available", {}
    checks = wh.results.hour_rows(catalog.check_results, model.name, [hour])  # the latest evaluation of each
    performance = wh.results.hour_rows(catalog.model_performance, model.name, [hour])
    drifted = [r["feature"] for r in drift if r["drifted"]]
    share = summary.get("drift_share")
    cards = []
    for r in drift:
        status = (
            "drifted"
            if r["drifted"]
            else (r["status"] if r["status"] in ("no_data", "no_reference") else "ok")
        )
        cards.append(
            f"<div class='card {status}' data-feature='{esc(r['feature'])}' data-status='{status}'>"
            f"<b>{esc(r['feature'])}</b> <span class='sub'>{esc(r['role'])}, {esc(r['kind'])}</span> "
            f"<span class='badge {status}'>{status.upper() if status == 'drifted' else status}</span><br>"
            f"<span class='sub'>{esc(r['test'])}: score {_fmt(r['score'])} vs threshold {_fmt(r['threshold'])}"
            f", p-value {_fmt(r['p_value'])}; reference n={_fmt(r['reference_rows'])}, current n={_fmt(r['current_rows'])}</span><br>"
            f"{_findings(r)}"
            f"{chart(r['feature'], reference.get(r['feature']), current.get(r['feature']))}</div>"
        )
    perf_cols = [
        "predictions",
        "labelled",
        "label_coverage",
        "roc_auc",
        "estimated_roc_auc",
        "accuracy",
        "estimated_accuracy",
        "mae",
        "rmse",
    ]
    title = f"{model.name} - drift report {hour:%Y-%m-%d %H}:00 UTC"
    verdict = f"{len(drifted)} of {len(drift)} columns drifted" + (
        f": {', '.join(drifted)}" if drifted else ""
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p class='sub'>Reference: {esc(window)}. Drift share of features: "
        f"<b id='drift-share'>{_fmt(share)}</b>. <span id='verdict'>{esc(verdict)}</span>. Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>"
        "<p class='legend'>Distributions:<span style='background:#9aa5b1'></span>reference"
        "<span style='background:#2f6fde'></span>current (this hour)</p>"
        f"<h2>Drift per column</h2><div class='cards'>{''.join(cards)}</div>"
        + segments_section(model, hour, wh)
        + multivariate_section(model, hour, wh)
        + "<h2>Data quality and checks (latest evaluation)</h2>"
        + _table(
            checks,
            ["check_name", "passed", "severity", "observed", "threshold", "description"],
        )
        + "<h2>Model performance</h2>"
        + _table(performance, perf_cols)
        + multiclass_section(performance)
        + "<h2>Alerts</h2>"
        + alerts_section(wh, model.name, hour, checks)
        + "</body></html>"
    )


def window_report(model: ModelConfig, first: datetime, last: datetime, wh: Warehouse) -> str:
    """Heat map of drift scores over a window: one row per column, one cell per hour, coloured by
    score / threshold (white 0, red >= 1), drifted cells marked with a dot."""
    t = catalog.drift_metrics
    rows = wh.results.rows(
        sa.select(t).where(t.c.model == model.name, t.c.partition_hour.between(first, last))
    )
    hours = sorted({r["partition_hour"] for r in rows})
    features = [c.name for c in model.monitored_columns]
    cell = {(r["feature"], r["partition_hour"]): r for r in rows}
    head = "".join(f"<th title='{h:%Y-%m-%d %H}:00'>{h:%H}</th>" for h in hours)
    lines = []
    for f in features:
        tds = []
        for h in hours:
            r = cell.get((f, h))
            if r is None or r["score"] is None or not r["threshold"]:
                tds.append("<td style='background:#e4e7eb' title='no data'></td>")
                continue
            ratio = min(float(r["score"]) / float(r["threshold"]), 2.0) / 2.0
            red = f"rgb(255,{int(255 * (1 - ratio))},{int(255 * (1 - ratio))})"
            mark = "●" if r["drifted"] else ""
            tds.append(
                f"<td class='{'drifted' if r['drifted'] else 'ok'}' data-hour='{h:%Y-%m-%d-%H:00}' "
                f"style='background:{red};font-size:9px;text-align:center' "
                f"title='{esc(f)} {h:%Y-%m-%d %H}:00: {esc(r['test'])} {float(r['score']):.4g} / {float(r['threshold']):g}'>{mark}</td>"
            )
        lines.append(f"<tr data-feature='{esc(f)}'><th>{esc(f)}</th>{''.join(tds)}</tr>")
    title = f"{model.name} - drift over {first:%Y-%m-%d %H}:00 to {last:%Y-%m-%d %H}:00 UTC"
    days = sorted({h.date() for h in hours})
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
        f"<p class='sub'>{len(hours)} hours over {len(days)} day(s). Cell colour: drift score / threshold "
        "(white 0, red 1 or more); ● the column drifted (past the threshold and significant). Hover a cell "
        "for the figures.</p>"
        f"<table class='heat'><tr><th></th>{head}</tr>{''.join(lines)}</table></body></html>"
    )


def drift_hours(wh: Warehouse, model: str, hours: Sequence[datetime]) -> list[datetime]:
    """The hours among `hours` that have drift results, in order (by index)."""
    found = wh.results.hour_rows(catalog.drift_summary, model, hours, "partition_hour")
    return [r["partition_hour"] for r in found]


def report_key(model: str, hour: datetime) -> str:
    return catalog.reports.key(model, hour)


def window_key(model: str, first: datetime, last: datetime) -> str:
    return f"{catalog.reports.model_prefix(model)}windows/{first:%Y-%m-%dT%H}_{last:%Y-%m-%dT%H}.html"


def publish(wh: Warehouse, key: str, text: str) -> str:
    """Store a report beside the results (warehouse folder or bucket); return its URI."""
    with tempfile.TemporaryDirectory(prefix="monitoring-report-") as tmp:
        path = Path(tmp) / "report.html"
        path.write_text(text, encoding="utf-8")
        return wh.store.put_file(path, key)
