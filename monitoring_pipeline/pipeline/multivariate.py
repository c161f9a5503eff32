"""Multivariate drift of an hour (no Dagster): fit PCA on the reference's row samples, derive the band
leaving each reference hour out of its own fit, score every row of the hour, publish one
`multivariate_drift` row. The statistics are in stats/multivariate.py; the rows in row_samples.py."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline.references import MissingInputError, is_static, reference_hours
from monitoring_pipeline.pipeline.row_samples import (
    columns_of,
    file_sample,
    hour_samples,
    publish_sample,
    read_features,
    stacked,
)
from monitoring_pipeline.stats.multivariate import Band, Fit, HourScore, fit_with_band
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse

NAN = float("nan")


@dataclass(frozen=True)
class MultivariateReference:
    """A reference's PCA fit and band, or why there is none (`reason`)."""

    description: str
    hours: int
    rows: int
    fit: Fit | None = None
    band: Band | None = None
    reason: str = ""


@dataclass(frozen=True)
class HourMultivariate:
    """An hour's multivariate drift: its score against the reference's band."""

    hour: datetime
    reference: MultivariateReference
    score: HourScore
    lower: float | None
    upper: float | None
    status: str  # ok | drift | no_reference (too few reference hours) | no_data (no rows)

    @property
    def drifted(self) -> bool:
        return self.status == "drift"


@dataclass
class RunCache:
    """What a run's hours share: the samples read or drawn (a trailing window's hours overlap) and a
    static reference's fit (the same for every hour)."""

    samples: dict[datetime, pa.Table] = field(default_factory=dict)
    static: MultivariateReference | None = None


def fit_reference(
    model: ModelConfig, hour: datetime, warehouse: Warehouse, cache: RunCache
) -> MultivariateReference:
    """The PCA fit and leave-one-hour-out band of the hour's reference (a static one once per run)."""
    if is_static(model) and cache.static is not None:
        return cache.static
    cfg = model.multivariate
    if model.reference.type == "file":
        table, labels = file_sample(model)
        description = (
            f"file {model.reference.path}: {table.num_rows} sampled rows in {cfg.file_chunks} chunks"
        )
        found, expected = len(set(labels.tolist())), cfg.file_chunks
    else:
        window = reference_hours(model, hour)
        samples = hour_samples(model, window, warehouse, cache.samples)
        table, labels = stacked(samples) if samples else (pa.table({}), None)
        kind = f"trailing {model.reference.hours}h" if model.reference.type == "trailing" else "fixed"
        end = window[-1] + timedelta(hours=1)
        description = (
            f"{kind} [{window[0]:%Y-%m-%d %H:00}, {end:%Y-%m-%d %H:00}) UTC, {len(samples)}/{len(window)} "
            f"hours sampled ({table.num_rows} rows)"
        )
        found, expected = len(samples), len(window)
    if found < cfg.min_reference_hours:
        reason = (
            f"{found} of the reference's {expected} hours have rows; multivariate drift is judged from "
            f"{cfg.min_reference_hours} (multivariate.min_reference_hours)"
        )
        built = MultivariateReference(description, found, table.num_rows, reason=reason)
    else:
        pca, band = fit_with_band(columns_of(model, table), labels, cfg.variance, cfg.band_sigma)
        built = MultivariateReference(description, found, table.num_rows, pca, band)
    if is_static(model) and found == expected:  # a fixed window still filling up is looked up again
        cache.static = built
    return built


def multivariate_hour(
    model: ModelConfig, hour: datetime, warehouse: Warehouse, cache: RunCache | None = None
) -> HourMultivariate:
    """Score every row of the hour against its reference; publish its sample and its result row."""
    cache = cache if cache is not None else RunCache()
    reference = fit_reference(model, hour, warehouse, cache)  # before this hour's sample: never its own
    found = warehouse.fetch_hours(catalog.prediction_logs, model.name, [hour])
    if hour not in found:
        raise MissingInputError(f"{model.name}/prediction_logs has no partition for {hour:%Y-%m-%d-%H:00}")
    rows = read_features(model, str(found[hour]))
    cache.samples[hour] = publish_sample(model, hour, rows, warehouse)
    if reference.fit is None or reference.band is None:
        result = HourMultivariate(
            hour, reference, HourScore(NAN, 0.0, rows.num_rows), None, None, "no_reference"
        )
    elif rows.num_rows == 0:
        result = HourMultivariate(hour, reference, HourScore(NAN, 0.0, 0), None, None, "no_data")
    else:
        score = HourScore.of(reference.fit.row_errors(columns_of(model, rows)))
        lower, upper = reference.band.limits(score.rows)
        status = "ok" if lower <= score.mean <= upper else "drift"
        result = HourMultivariate(hour, reference, score, lower, upper, status)
    warehouse.results.upsert(catalog.multivariate_drift, [result_row(model, result, datetime.now(UTC))])
    return result


def result_row(model: ModelConfig, result: HourMultivariate, computed_at: datetime) -> dict[str, Any]:
    ref, band = result.reference, result.reference.band
    details: dict[str, Any] = {
        "row_error_std": result.score.std,
        "variance_target": model.multivariate.variance,
        "band_sigma": model.multivariate.band_sigma,
        "features": [c.name for c in model.features],
    }
    if band is not None:
        details |= {
            "between_hour_variance": band.between_variance,
            "reference_row_error_std": band.row_std,
            "reference_hour_errors": [round(s.mean, 6) for s in band.hours],
        }
    if ref.reason:
        details["reason"] = ref.reason
    finite = not math.isnan(result.score.mean)
    return {
        "model": model.name,
        "partition_hour": result.hour,
        "rows": result.score.rows,
        "reconstruction_error": result.score.mean if finite else None,
        "expected_error": band.expected if band else None,
        "lower_threshold": result.lower,
        "upper_threshold": result.upper,
        "components": len(ref.fit.components) if ref.fit else None,
        "explained_variance": ref.fit.explained_variance if ref.fit else None,
        "reference_hours": ref.hours,
        "reference_rows": ref.rows,
        "drifted": result.drifted,
        "status": result.status,
        "reference_window": ref.description,
        "details": json.dumps(details),
        "computed_at": computed_at,
    }
