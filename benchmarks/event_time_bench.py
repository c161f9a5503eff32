"""One event hour of N rows (default 1M) loaded from a streaming sink's arrival folders, the way the
prediction_logs asset runs it (`ingest_hour`, partition_by event_time).

The hour's records are spread over two arrival folders as a sink lands them: 90 % in the hour's own folder,
10 % in the next one; each folder also holds the neighbouring hours' records (the previous hour's last
10 % in the first, the next hour's 90 % in the second), so the hour reads about 2N records to keep N;
for Firehose also the folder before its own (a buffer opened there is foldered there), 3N in all.
Formats: Firehose (gzip JSON lines, no extension, 8 objects per folder) and Kafka Connect Parquet.

Prints one JSON line: per format the load's seconds (best of 2), DuckDB's bare scan of the same objects
(every kept column decoded once, best of 3), their ratio, rows read and kept.
Run: .venv/bin/python benchmarks/event_time_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HOUR = datetime(2026, 1, 2, 10, tzinfo=UTC)
NUMERICAL = [f"num_{i:02d}" for i in range(18)]
CATEGORICAL = [f"cat_{i}" for i in range(7)]
OBJECTS = 8  # per folder
FIELDS = {"firehose": {"prefix": "stream/"}, "kafka_connect": {"topic": "bench"}}


def model_config(logs: str, layout: str) -> object:
    from monitoring_pipeline.config import ModelConfig

    return ModelConfig(
        name="bench",
        task="classification",
        logs=logs,
        logs_layout=layout,
        logs_fields=FIELDS[layout],
        timestamp_column="ts",
        id_column="id",
        features={c: "numerical" for c in NUMERICAL[:-1]} | {c: "categorical" for c in CATEGORICAL},
        predictions={NUMERICAL[-1]: "numerical"},
        partitions_start=HOUR - timedelta(days=2),
    )


def select_sql(event_hour: datetime, n: int, first_id: int, start_share: float, end_share: float) -> str:
    """n records of `event_hour` whose timestamps fall in [start_share, end_share) of the hour."""
    base = int(event_hour.timestamp() * 1_000_000)
    span = 3_600_000_000 * (end_share - start_share)
    start = base + int(3_600_000_000 * start_share)
    cols = [
        f"make_timestamptz({start} + CAST(random() * {span} AS BIGINT)) AS ts",
        f"CAST(i + {first_id} AS VARCHAR) AS id",
    ]
    cols += [f"round(random() * {10 + i}, 3) AS {c}" for i, c in enumerate(NUMERICAL)]
    cols += [
        f"'v' || CAST(floor(random() * {5 + 5 * i}) AS INTEGER) AS {c}" for i, c in enumerate(CATEGORICAL)
    ]
    return f"SELECT {', '.join(cols)} FROM range({n}) t(i)"


def generate(root: Path, rows: int, fmt: str) -> list[Path]:
    """The two arrival folders of HOUR; returns the objects written."""
    import duckdb

    from monitoring_pipeline.config.key_layout import key_layout

    preset = "firehose" if fmt == "json" else "kafka_connect"
    layout = key_layout(preset, "bench", FIELDS[preset])
    spill = rows // 10
    folders = {  # arrival folder -> (event hour, rows, first id, share of the hour's time span)
        HOUR: [(HOUR - timedelta(hours=1), spill, 0, 0.9, 1.0), (HOUR, rows - spill, 10**8, 0.0, 0.9)],
        HOUR + timedelta(hours=1): [
            (HOUR, spill, 2 * 10**8, 0.9, 1.0),
            (HOUR + timedelta(hours=1), rows - spill, 3 * 10**8, 0.0, 0.9),
        ],
    }
    if preset == "firehose":  # it also reads the folder before (a buffer opened there): the previous hour's
        folders[HOUR - timedelta(hours=1)] = [(HOUR - timedelta(hours=1), rows, 4 * 10**8, 0.0, 0.9)]
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    written = []
    for folder, parts in folders.items():
        target = root / layout.folder(folder)
        target.mkdir(parents=True, exist_ok=True)
        union = " UNION ALL ".join(select_sql(*p) for p in parts)
        conn.execute(
            f"CREATE OR REPLACE TABLE folder_rows AS "
            f"SELECT *, row_number() OVER () % {OBJECTS} AS part FROM ({union})"
        )
        for part in range(OBJECTS):
            if fmt == "json":
                path = target / f"stream-1-{folder:%Y-%m-%d-%H}-{part * 7:02d}-00-{part:08d}-aaaa-bbbb"
                options = "FORMAT json, COMPRESSION gzip"
            else:
                path = target / f"bench+{part}+{part * 10**6:010d}.parquet"
                options = "FORMAT parquet"
            conn.execute(
                f"COPY (SELECT * EXCLUDE (part) FROM folder_rows WHERE part = {part}) TO '{path}' ({options})"
            )
            written.append(path)
    return written


def bare_scan(paths: list[Path], fmt: str) -> float:
    import duckdb

    conn = duckdb.connect()
    cols = ["ts", "id", *NUMERICAL, *CATEGORICAL]
    counts = ", ".join(f"count({c})" for c in cols)
    if fmt == "json":
        types = (
            {c: "DOUBLE" for c in NUMERICAL}
            | {c: "VARCHAR" for c in [*CATEGORICAL, "id"]}
            | {"ts": "TIMESTAMPTZ"}
        )
        source = f"read_json($files, format = 'newline_delimited', compression = 'gzip', columns = {types!r})"
    else:
        source = "read_parquet($files)"
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        conn.execute(f"SELECT {counts} FROM {source}", {"files": [str(p) for p in paths]}).fetchall()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from monitoring_pipeline.pipeline.ingest import ingest_hour
    from monitoring_pipeline.storage.object_store import LocalObjectStore
    from monitoring_pipeline.storage.warehouse import Warehouse

    figures: dict[str, object] = {"rows": args.rows}
    for fmt, layout in (("json", "firehose"), ("parquet", "kafka_connect")):
        with tempfile.TemporaryDirectory(prefix="event-time-bench-") as tmp:
            root = Path(tmp)
            paths = generate(root / "logs", args.rows, fmt)
            model = model_config(str(root / "logs"), layout)
            warehouse = Warehouse(str(root / "results.sqlite"), str(root / "warehouse"))
            best, result = float("inf"), None
            for _ in range(2):
                start = time.perf_counter()
                result = ingest_hour(model, HOUR, LocalObjectStore(root / "logs"), warehouse)
                best = min(best, time.perf_counter() - start)
            scan = bare_scan(paths, fmt)
            assert result is not None and result.rows == args.rows, result
            figures |= {
                f"{fmt}_ingest_s": round(best, 3),
                f"{fmt}_bare_scan_s": round(scan, 3),
                f"{fmt}_ingest_to_bare_scan_ratio": round(best / scan, 2),
                f"{fmt}_rows_read": len(paths) // OBJECTS * args.rows,
                f"{fmt}_rows_kept": result.rows,
                f"{fmt}_late_records": result.late_records,
            }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
