"""What `seed-demo --layout firehose` costs against the hive layout: the three demo models' logs (96 hours,
no labels) seeded into a local folder in each layout, alternately, `--repeat` times (best wall time kept);
the firehose layout serializes every record as JSON and gzips ~12 objects an hour. Prints one JSON line.
Run: .venv/bin/python benchmarks/demo_seed_bench.py [--hours 96] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from monitoring_pipeline.config.demo_window import DEMO_HOURS, DEMO_LAYOUTS
from monitoring_pipeline.demo import DEMO_MODELS, seed_demo
from monitoring_pipeline.storage.object_store import LocalObjectStore

END = datetime(2026, 11, 24, 0, tzinfo=UTC)


def seed_once(layout: str, hours: int) -> tuple[float, int, int]:
    """Wall seconds, rows and objects of one seeding into a fresh folder."""
    with tempfile.TemporaryDirectory(prefix="demo-seed-bench-") as tmp:
        store = LocalObjectStore(tmp)
        started = time.perf_counter()
        rows = seed_demo(dict.fromkeys(DEMO_MODELS, store), end=END, hours=hours, layout=layout)
        seconds = time.perf_counter() - started
        objects = sum(1 for p in Path(tmp).rglob("*") if p.is_file())
    return seconds, sum(rows.values()), objects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=int, default=DEMO_HOURS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    best: dict[str, float] = {}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(args.repeat):
        for layout in DEMO_LAYOUTS:
            seconds, rows, objects = seed_once(layout, args.hours)
            best[layout] = min(best.get(layout, seconds), seconds)
            counts[layout] = (rows, objects)
    result: dict[str, object] = {"hours": args.hours, "models": len(DEMO_MODELS)}
    for layout in DEMO_LAYOUTS:
        rows, objects = counts[layout]
        result[layout] = {"seconds": round(best[layout], 2), "rows": rows, "objects": objects}
    result["firehose_over_hive"] = round(best["firehose"] / best["hive"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
