"""The drift report's multivariate section (no Dagster here): the hour's PCA reconstruction error
against its band, and the day before it drawn as a line inside its band (inline SVG)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.publish.charts import esc
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse

TREND_HOURS = 24
WIDTH, HEIGHT, PAD = 560, 140, 24


def multivariate_section(model: ModelConfig, hour: datetime, wh: Warehouse) -> str:
    """Empty when the model has no multivariate drift; else the hour's figures and the trend."""
    if not model.multivariate_on:
        return ""
    t = catalog.multivariate_drift
    stmt = sa.select(t).where(
        t.c.model == model.name,
        t.c.partition_hour > hour - timedelta(hours=TREND_HOURS),
        t.c.partition_hour <= hour,
    )
    rows = wh.results.rows(stmt, sort=["partition_hour"])
    this = next((r for r in rows if r["partition_hour"] == hour), None)
    head = "<h2>Multivariate drift (PCA reconstruction error)</h2>"
    if this is None:
        return head + "<p class='sub' id='multivariate'>not computed for this hour</p>"
    status = this["status"]
    badge = "drifted" if this["drifted"] else ("ok" if status == "ok" else "no_reference")
    figures = (
        f"mean reconstruction error <b>{_num(this['reconstruction_error'])}</b> over {this['rows']} rows; "
        f"band [{_num(this['lower_threshold'])}, {_num(this['upper_threshold'])}] around the "
        f"reference hours' {_num(this['expected_error'])} (each scored against a fit without it); "
        f"{this['components']} component(s) explaining {_num(this['explained_variance'])} "
        "of the reference's variance; "
        f"reference: {esc(this['reference_window'])}"
    )
    meaning = (
        " Above the band: the features no longer move together as they did in the reference (a correlation "
        "changed), even where each one alone looks unchanged: compare pairs of features before and after."
        if this["drifted"]
        else ""
    )
    return (
        f"{head}<p id='multivariate' data-status='{esc(status)}'><span class='badge {badge}'>"
        f"{esc(status.upper() if this['drifted'] else status)}</span> {figures}.{esc(meaning)}</p>"
        + _trend(rows)
    )


def _num(value: object) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else esc(value)


def _trend(rows: list[dict]) -> str:
    """The errors of up to the last 24 hours (dots, red when drifted) over their bands (grey)."""
    judged = [r for r in rows if r["reconstruction_error"] is not None and r["upper_threshold"] is not None]
    if len(judged) < 2:
        return ""
    values = [
        v for r in judged for v in (r["reconstruction_error"], r["lower_threshold"], r["upper_threshold"])
    ]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    first = judged[0]["partition_hour"]

    def xy(r: dict, key: str) -> tuple[float, float]:
        x = PAD + (WIDTH - 2 * PAD) * (r["partition_hour"] - first) / timedelta(hours=TREND_HOURS - 1)
        return x, HEIGHT - PAD - (HEIGHT - 2 * PAD) * (r[key] - low) / span

    upper = [xy(r, "upper_threshold") for r in judged]
    lower = [xy(r, "lower_threshold") for r in reversed(judged)]
    band = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower)
    dots = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{'#d64545' if r['drifted'] else '#2f6fde'}'/>"
        for r in judged
        for x, y in [xy(r, "reconstruction_error")]
    )
    return (
        f"<svg width='{WIDTH}' height='{HEIGHT}' role='img' aria-label='reconstruction error, last hours'>"
        f"<polygon points='{band}' fill='#d9e2ec'/>{dots}"
        f"<text x='{PAD}' y='14' font-size='11'>error per hour over its band, last {TREND_HOURS} h</text>"
        "</svg>"
    )
