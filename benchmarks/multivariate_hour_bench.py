"""What multivariate drift adds to an hour at the demo's scale, in one process without Dagster.

Seeds `--hours` hours of `fraud_classifier` logs (the demo's generator without incidents, ~`--rows` rows
per hour, two objects per hour), then runs each hour the way a backfill's runs of 24 hours do: ingest,
profile, trailing reference and drift, then multivariate drift (its reference fitted on the previous
hours' samples, a cache shared by the run's hours). Prints one JSON line: seconds per hour of each part,
and multivariate drift's share of the hour's work measured here.
Run: .venv/bin/python benchmarks/multivariate_hour_bench.py [--hours 48] [--rows 3000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backfill_bench import seed, write_config  # beside this file


def main() -> None:
    from monitoring_pipeline.config import load_config
    from monitoring_pipeline.pipeline.ingest import ingest_hour
    from monitoring_pipeline.pipeline.multivariate import RunCache, multivariate_hour
    from monitoring_pipeline.pipeline.profile_and_drift import drift_hour, profile_hour
    from monitoring_pipeline.pipeline.references import build_reference, publish_reference
    from monitoring_pipeline.storage.object_store import open_store
    from monitoring_pipeline.storage.warehouse import Warehouse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args()
    first = datetime(2026, 1, 1, tzinfo=UTC)
    hours = [first + timedelta(hours=k) for k in range(args.hours)]
    spent = {"ingest": 0.0, "profile": 0.0, "reference_and_drift": 0.0, "multivariate": 0.0}
    with tempfile.TemporaryDirectory(prefix="multivariate-hour-bench-") as tmp:
        root = Path(tmp)
        seed(root / "logs", hours, args.rows)
        (root / "run").mkdir()
        config = load_config(write_config(root / "run", root / "logs", first, 24))
        model, wh = config.models[0], Warehouse.open(config.warehouse)
        logs = open_store(model.logs)

        def timed(part: str, fn: object, *args: object) -> object:
            start = time.perf_counter()
            result = fn(*args)  # type: ignore[operator]
            spent[part] += time.perf_counter() - start
            return result

        def reference_and_drift(hour: datetime) -> None:
            publish_reference(model, hour, build_reference(model, hour, wh), wh)
            drift_hour(model, hour, wh)

        for start in range(0, len(hours), 24):  # runs of 24 hours, as a backfill's
            cache = RunCache()
            for hour in hours[start : start + 24]:
                timed("ingest", ingest_hour, model, hour, logs, wh)
                timed("profile", profile_hour, model, hour, wh)
                timed("reference_and_drift", reference_and_drift, hour)
                timed("multivariate", multivariate_hour, model, hour, wh, cache)
    per_hour = {f"{k}_s_per_hour": round(v / len(hours), 4) for k, v in spent.items()}
    others = sum(v for k, v in spent.items() if k != "multivariate")
    print(
        json.dumps(
            {
                "hours": len(hours),
                "rows_per_hour": args.rows,
                **per_hour,
                "multivariate_to_the_rest_ratio": round(spent["multivariate"] / others, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
