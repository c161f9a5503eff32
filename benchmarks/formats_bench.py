"""Staging one prediction-log object per format against DuckDB's bare scan of the same file.

1M rows x 25 columns (timestamp, id, 20 numerical, 3 categorical) written as gzip JSON lines, plain JSON
lines, gzip CSV, Parquet and Avro. For each: `readers.stage_object` seconds (detect included), the bare
scan (`SELECT count(*) FROM read_json(...)` / read_csv / read_parquet / read_avro, same options), and
their ratio, all best of `--repeat` in the same run (the machine is shared: compare ratios, not times).
Prints one JSON line. Run: .venv/bin/python benchmarks/formats_bench.py [--rows 1000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitoring_pipeline.pipeline import readers
from monitoring_pipeline.storage import duck

NUMERICAL = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(3)]
COLUMNS = [("ts", "timestamp"), ("id", "id")] + [(c, "numerical") for c in NUMERICAL]
COLUMNS += [(c, "categorical") for c in CATEGORICAL]
FILES = {  # name -> (COPY options, the bare scan of the file)
    "json_gzip": ("FORMAT json, COMPRESSION gzip", "read_json(?, format = 'newline_delimited')"),
    "json": ("FORMAT json", "read_json(?, format = 'newline_delimited')"),
    "csv_gzip": ("FORMAT csv, HEADER, COMPRESSION gzip", "read_csv(?, header = true)"),
    "parquet": ("FORMAT parquet", "read_parquet(?)"),
    "avro": ("FORMAT avro", "read_avro(?)"),
}
SUFFIX = {
    "json_gzip": ".json.gz",
    "json": ".json",
    "csv_gzip": ".csv.gz",
    "parquet": ".parquet",
    "avro": ".avro",
}


def generate(conn: Any, folder: Path, rows: int) -> dict[str, Path]:
    """The same rows in every format: timestamps over the hour, 4-decimal numbers, 10-40 categories."""
    numbers = ", ".join(f"round(random() * 100, 4) AS {c}" for c in NUMERICAL)
    labels = ", ".join(f"'v' || (i % {10 * (k + 1)}) AS {c}" for k, c in enumerate(CATEGORICAL))
    conn.execute("SELECT setseed(0.42)")
    conn.execute(
        "CREATE TEMP TABLE bench_rows AS SELECT TIMESTAMP '2026-01-02 00:00:00' "
        f"+ to_microseconds(i * 3600000000 // {rows}) AS ts, 'req-' || i AS id, {numbers}, {labels} "
        f"FROM range({rows}) r(i)"
    )
    paths = {}
    for name, (options, _) in FILES.items():
        paths[name] = folder / f"topic+0+0000000000{SUFFIX[name]}"
        conn.execute(f"COPY bench_rows TO {duck.string_literal(str(paths[name]))} ({options})")
    return paths


def best(repeat: int, run: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def stage(conn: Any, uri: str, path: Path, rows: int) -> None:
    conn.execute("DROP TABLE IF EXISTS bench_stage")
    readers.create_stage(conn, "bench_stage", COLUMNS, [])
    staged = readers.stage_object(
        conn, "bench_stage", COLUMNS, uri, path, readers.detect(uri, path, "auto"), [], False
    )
    assert staged.rows == rows and staged.bad_lines == 0, staged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    conn = duck.scratch()
    duck.load_extension(conn, "avro")
    result: dict[str, Any] = {"rows": args.rows, "columns": len(COLUMNS), "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="formats-bench-") as tmp:
        paths = generate(conn, Path(tmp), args.rows)
        for name, path in paths.items():
            uri = f"s3://bench/{path.name}"
            scan = FILES[name][1]
            count = f"SELECT count(*) FROM {scan}"
            bare = best(args.repeat, lambda q=count, p=path: conn.execute(q, [str(p)]).fetchall())
            # DuckDB's Avro writer (1.5.5) drops the first 8 of these rows: the file's own count is expected
            rows = conn.execute(count, [str(path)]).fetchone()[0]
            staged = best(args.repeat, lambda u=uri, p=path, n=rows: stage(conn, u, p, n))
            result[name] = {
                "mb": round(path.stat().st_size / 1e6, 1),
                "rows": rows,
                "stage_s": round(staged, 3),
                "bare_scan_s": round(bare, 3),
                "ratio": round(staged / bare, 2),
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
