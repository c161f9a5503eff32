"""Multivariate drift's cost on one hour, for partition_bench.py: the whole step as the asset runs it
(reference fit with its leave-one-hour-out band, reading every row, sampling, scoring, publishing), its
parts, and the alternative way to score all rows: DuckDB SQL with the fitted constants (the product
scores with numpy over the Arrow columns; this measures which is faster, and checks both agree)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import numpy as np


def _n(value: float) -> str:
    return repr(float(value))


def _sql_score(model: Any, fit: Any, partition: str) -> tuple[float, float]:
    """Mean and std of the row errors, computed by DuckDB from the fitted constants (literals: numbers
    this process computed, and category values quoted by duck.string_literal; measurement only)."""
    from monitoring_pipeline.storage import duck

    enc = fit.encoding
    z = []
    for j, name in enumerate(enc.names):
        col = duck.quote_identifier(name)
        if name in enc.frequencies:
            freq, mode = enc.frequencies[name], enc.modes[name]
            cases = " ".join(f"WHEN {duck.string_literal(v)} THEN {_n(f)}" for v, f in freq.items())
            null = _n(freq.get(mode, 0.0))
            value = f"CASE WHEN {col} IS NULL THEN {null} ELSE CASE {col} {cases} ELSE 0.0 END END"
        else:
            value = f"coalesce({col}, {_n(enc.fill[j])})"
        z.append(
            f"(({value}) - {_n(enc.center[j] + enc.scale[j] * fit.mean[j])}) / {_n(enc.scale[j])} AS z{j}"
        )
    comps = fit.components
    proj = [
        " + ".join(f"z{j} * {_n(comps[k, j])}" for j in range(len(enc.names))) + f" AS p{k}"
        for k in range(len(comps))
    ]
    resid = [
        f"pow(z{j} - (" + " + ".join(f"p{k} * {_n(comps[k, j])}" for k in range(len(comps))) + "), 2)"
        for j in range(len(enc.names))
    ]
    sql = (
        f"SELECT avg(e), stddev_samp(e) FROM (SELECT sqrt({' + '.join(resid)}) AS e FROM "
        f"(SELECT *, {', '.join(proj)} FROM (SELECT {', '.join(z)} FROM read_parquet(?))))"
    )
    with duck.connect() as conn:
        return conn.execute(sql, [partition]).fetchone()


def measure(model: Any, hour: datetime, wh: Any, partition: str, bare_scan: Any) -> dict[str, object]:
    from monitoring_pipeline.pipeline.multivariate import RunCache, fit_reference, multivariate_hour
    from monitoring_pipeline.pipeline.references import reference_hours
    from monitoring_pipeline.pipeline.row_samples import columns_of, hour_samples, read_features

    hour_samples(model, reference_hours(model, hour), wh, {})  # the earlier hours' samples, not timed
    features = [c.name for c in model.features]
    bare = bare_scan([partition], features)
    start = time.perf_counter()
    result = multivariate_hour(model, hour, wh)
    step_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = fit_reference(model, hour, wh, RunCache())
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    errors = reference.fit.row_errors(columns_of(model, read_features(model, partition)))
    numpy_s = time.perf_counter() - start
    start = time.perf_counter()
    sql_mean, _ = _sql_score(model, reference.fit, partition)
    sql_s = time.perf_counter() - start
    assert np.isclose(sql_mean, errors.mean(), rtol=1e-9), (sql_mean, errors.mean())
    return {
        "multivariate_s": round(step_s, 3),
        "multivariate_to_bare_scan_ratio": round(step_s / bare, 2),
        "multivariate_bare_scan_s": round(bare, 3),
        "multivariate_fit_s": round(fit_s, 3),
        "multivariate_score_numpy_s": round(numpy_s, 3),
        "multivariate_score_duckdb_sql_s": round(sql_s, 3),
        "multivariate_reference_rows": reference.rows,
        "multivariate_components": len(reference.fit.components),
        "multivariate_status": result.status,
    }
