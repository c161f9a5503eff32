"""One hour of 1M rows x 27 columns through ingest, profile and drift, the way the assets run it.

Prints one JSON line: stage timings (s), peak memory (MB) after profile + drift, the Great Expectations
validation of the same hour (the data-quality check: partition read into pandas plus the suite, timed
after GX is imported and its context built), `full_hour_s` (ingest + profile + reference + drift +
quality), multivariate drift's step (`multivariate_s`, its parts, and scoring all rows in numpy against
DuckDB SQL: benchmarks/multivariate_scoring.py), and each step's ratio to DuckDB's bare scan of what it
reads, measured in the same run (a
query decoding every column the step reads once, best of 3): ingest against the hour's source objects'
kept columns, profile against the partition's monitored columns, quality against the suite's columns.
The profile is also timed with two segment columns (`segmented_to_plain_profile_ratio`, same run).
Data is generated in a child process first, so the peak is the pipeline's, not the generator's.
Run: .venv/bin/python benchmarks/partition_bench.py [--rows 1000000] [--reference-hours 24]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HOUR = datetime(2026, 1, 2, 0, tzinfo=UTC)
NUMERICAL = [f"num_{i:02d}" for i in range(18)]
CATEGORICAL = [f"cat_{i}" for i in range(7)]
SEGMENTS = ("cat_1", "cat_2")  # 20 and 35 values: 20 + 21 segments (top 20 of cat_2, the rest pooled)


def model_config(logs: str) -> object:
    from monitoring_pipeline.config import ModelConfig

    return ModelConfig(
        name="bench",
        task="classification",
        logs=logs,
        timestamp_column="ts",
        id_column="id",
        features={c: "numerical" for c in NUMERICAL[:-1]} | {c: "categorical" for c in CATEGORICAL},
        predictions={NUMERICAL[-1]: "numerical"},
        partitions_start=HOUR - timedelta(days=2),
        reference={"type": "trailing", "hours": 24},
    )


def generate(folder: Path, rows: int, reference_hours: int) -> None:
    """The measured hour (2 objects, like two serving replicas) and smaller reference hours."""
    import numpy as np
    import pandas as pd

    def frame(n: int, rng: np.random.Generator, hour: datetime) -> pd.DataFrame:
        data: dict[str, object] = {
            "ts": pd.Timestamp(hour) + pd.to_timedelta(rng.integers(0, 3_600_000_000, n), unit="us"),
            "id": pd.Series(np.arange(n).astype(str), dtype="str"),
        }
        for i, name in enumerate(NUMERICAL):
            kind = i % 4
            col = [
                rng.normal(10, 3, n),
                rng.lognormal(2, 1, n),
                rng.poisson(4, n).astype(float),
                rng.uniform(0, 1, n),
            ][kind]
            if i % 5 == 0:
                col[rng.random(n) < 0.02] = np.nan
            data[name] = col
        for i, name in enumerate(CATEGORICAL):
            cats = np.array([f"v{j}" for j in range(5 + 15 * i)], dtype=object)
            data[name] = pd.Series(rng.choice(cats, n), dtype="str")
        return pd.DataFrame(data)

    rng = np.random.default_rng(0)
    hours = [HOUR - timedelta(hours=k) for k in range(reference_hours, 0, -1)] + [HOUR]
    for hour in hours:
        n = rows if hour == HOUR else max(rows // 20, 1000)
        target = folder / "logs" / "bench" / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        target.mkdir(parents=True, exist_ok=True)
        df = frame(n, rng, hour)
        half = n // 2
        df.iloc[:half].to_parquet(target / "replica-0.parquet", index=False, row_group_size=122_880)
        df.iloc[half:].to_parquet(target / "replica-1.parquet", index=False, row_group_size=122_880)


def timed(fn: object, *args: object) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn(*args)  # type: ignore[operator]
    return result, time.perf_counter() - start


def bare_scan(files: list[str], columns: list[str]) -> float:
    """DuckDB reading and decoding `columns` of `files` once (a min per column), best of 3 runs."""
    from monitoring_pipeline.storage import duck

    select = ", ".join(f"min({duck.quote_identifier(c)})" for c in columns)
    with duck.connect() as conn:
        return min(
            timed(lambda: conn.execute(f"SELECT {select} FROM read_parquet(?)", [files]).fetchall())[1]
            for _ in range(3)
        )


def run(folder: Path, rows: int, reference_hours: int) -> dict[str, object]:
    from multivariate_scoring import measure as measure_multivariate  # beside this file

    from monitoring_pipeline import checks
    from monitoring_pipeline.pipeline.column_types import expected_columns
    from monitoring_pipeline.pipeline.ingest import ingest_hour
    from monitoring_pipeline.pipeline.profile_and_drift import drift_hour, profile_hour
    from monitoring_pipeline.pipeline.references import build_reference, publish_reference
    from monitoring_pipeline.storage import catalog, layout
    from monitoring_pipeline.storage.object_store import LocalObjectStore
    from monitoring_pipeline.storage.warehouse import Warehouse

    model = model_config(str(folder / "logs"))
    logs = LocalObjectStore(folder / "logs")
    wh = Warehouse(str(folder / "results.sqlite"), str(folder / "warehouse"))
    segmented = model.model_copy(update={"segments": SEGMENTS})
    for k in range(reference_hours, 0, -1):  # the reference hours, not timed (segmented: same whole profiles)
        ingest_hour(model, HOUR - timedelta(hours=k), logs, wh)
        profile_hour(segmented, HOUR - timedelta(hours=k), wh)
    hour_objects = sorted(
        str(p) for p in (folder / "logs" / layout.hour_prefix("bench", HOUR)).glob("*.parquet")
    )
    kept = [column for column, _ in expected_columns(model)]
    source_bare = bare_scan(hour_objects, kept)  # what ingest reads: every kept column of the objects
    ingested, ingest_s = timed(ingest_hour, model, HOUR, logs, wh)
    partition = str(Path(wh.tables_root) / catalog.prediction_logs.key("bench", HOUR))
    bare = bare_scan([partition], NUMERICAL + CATEGORICAL)  # what profile reads: the monitored columns
    quality_bare = bare_scan([partition], ["id", *NUMERICAL, *CATEGORICAL])  # the suite's columns
    # the profile without and with segments, alternated, best of 2 each (the machine is noisy)
    plain_runs, segmented_runs = [], []
    for _ in range(2):
        plain_runs.append(timed(profile_hour, model, HOUR, wh)[1])
        segmented_runs.append(timed(profile_hour, segmented, HOUR, wh)[1])
    profile_s, segmented_s = min(plain_runs), min(segmented_runs)
    reference, reference_s = timed(build_reference, model, HOUR, wh)
    _, publish_s = timed(publish_reference, model, HOUR, reference, wh)
    drift, drift_s = timed(drift_hour, model, HOUR, wh)
    segment_drift, segment_drift_s = timed(drift_hour, segmented, HOUR, wh)  # the same reference, stored
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    multivariate = measure_multivariate(model, HOUR, wh, partition, bare_scan)
    _, gx_import_s = timed(__import__, "great_expectations")
    checks.data_quality(model, HOUR - timedelta(hours=1), wh)  # warm: GX context built once per process
    quality, quality_s = timed(checks.data_quality, model, HOUR, wh)
    quality_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": ingested.rows,
        "columns": len(NUMERICAL) + len(CATEGORICAL) + 2,
        "source_bare_scan_s": round(source_bare, 3),
        "ingest_s": round(ingest_s, 3),
        "ingest_to_bare_scan_ratio": round(ingest_s / source_bare, 2),
        "bare_scan_s": round(bare, 3),
        "profile_s": round(profile_s, 3),
        "profile_to_bare_scan_ratio": round(profile_s / bare, 2),
        "segmented_profile_s": round(segmented_s, 3),
        "segmented_to_plain_profile_ratio": round(segmented_s / profile_s, 2),
        "segments": len(segment_drift.segments.segments),
        "segment_drift_s": round(segment_drift_s, 3),
        "reference_merge_s": round(reference_s + publish_s, 3),
        "reference_hours": reference.hours_found,
        "drift_s": round(drift_s, 3),
        "profile_plus_drift_s": round(profile_s + reference_s + publish_s + drift_s, 3),
        "drifted_features": drift.summary.drifted,
        "peak_rss_mb": round(peak_mb, 1),
        "gx_import_s": round(gx_import_s, 2),
        "quality_bare_scan_s": round(quality_bare, 3),
        "quality_validation_s": round(quality_s, 3),
        "quality_to_bare_scan_ratio": round(quality_s / quality_bare, 2),
        "quality_expectations": len(quality.details["expectations"]),
        "peak_rss_with_validation_mb": round(quality_peak_mb, 1),
        "full_hour_s": round(ingest_s + profile_s + reference_s + publish_s + drift_s + quality_s, 3),
        **multivariate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-hours", type=int, default=24)
    parser.add_argument("--generate-into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_into:
        generate(Path(args.generate_into), args.rows, args.reference_hours)
        return
    with tempfile.TemporaryDirectory(prefix="partition-bench-") as tmp:
        cmd = [
            sys.executable,
            __file__,
            "--rows",
            str(args.rows),
            "--reference-hours",
            str(args.reference_hours),
        ]
        subprocess.run([*cmd, "--generate-into", tmp], check=True)
        print(json.dumps(run(Path(tmp), args.rows, args.reference_hours)))


if __name__ == "__main__":
    main()
