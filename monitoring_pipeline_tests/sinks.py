"""Fixture generators that write prediction logs the way streaming sinks land them in object storage,
written from the sinks' documentation and independently of the pipeline's own layout code:

- Kinesis Data Firehose (default S3 prefix and object names): `<prefix>YYYY/MM/DD/HH/` by the time the
  buffer was delivered, objects `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`, no extension, JSON lines,
  gzip-compressed when the stream compresses.
- Kafka Connect's S3 sink with the TimeBasedPartitioner (`path.format` of the hourly example,
  wall-clock/record-arrival time): `topics/<topic>/year=YYYY/month=MM/day=dd/hour=HH/`, objects
  `<topic>+<kafka partition>+<start offset, 10 digits>.<json|parquet>`.

Each record is a dict of JSON-ready values; its arrival time decides its folder.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.storage.object_store import LocalObjectStore, open_store
from monitoring_pipeline_tests.stores import put_object

Records = list[dict[str, Any]]


def sink_traffic(
    start: datetime,
    hours: int,
    per_hour: int,
    seed: int,
    nested: bool = True,
    outside_share: float = 0.03,
    age_shift: dict[int, float] | None = None,
) -> tuple[Records, list[datetime]]:
    """Records of `hours` event hours from `start` and when each arrived: most within minutes, ~12 % in
    the next hour's folder, and `outside_share` of them (two thirds late: 2-3 h, beyond a 15-minute
    delay; one third ahead of their hour: landing 61-150 min before it, a fast clock). Nested records
    carry `user.age` (shifted by `age_shift[hour index]`) and `device.os`."""
    rng = np.random.default_rng(seed)
    records, arrivals = [], []
    for h in range(hours):
        for i in range(per_hour):
            event = start + timedelta(hours=h, seconds=float(rng.uniform(0, 3600)))
            kind = rng.random()
            if kind < 1 - outside_share - 0.12:
                delay = timedelta(seconds=float(min(rng.exponential(90), 840)))
            elif kind < 1 - outside_share:
                delay = timedelta(minutes=float(rng.uniform(5, 50)))
            elif kind < 1 - outside_share / 3:
                delay = timedelta(hours=float(rng.uniform(2.1, 3)))
            else:
                delay = -timedelta(minutes=float(rng.uniform(61, 150)))
            record: dict[str, Any] = {
                "ts": event.isoformat(),
                "id": f"{seed}-{h}-{i}",
                "amount": round(float(rng.lognormal(3, 1)), 3),
                "country": str(rng.choice(["fr", "de", "it"])),
                "score": round(float(rng.random()), 4),
            }
            if nested:
                age = float(rng.normal(40, 10)) + (age_shift or {}).get(h, 0.0)
                record["user"] = {"age": round(age, 2)}
                record["device"] = {"os": str(rng.choice(["ios", "android"]))}
            records.append(record)
            arrivals.append(event + delay)
    return records, arrivals


def _landed(location: str, key: str, at: datetime) -> None:
    """On the local store, the object's modification time is when the sink delivered it."""
    store = open_store(location)
    if isinstance(store, LocalObjectStore):
        os.utime(store.root / key, (at.timestamp(), at.timestamp()))


def json_lines(records: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()


def write_firehose(
    location: str,
    prefix: str,
    stream: str,
    records: Sequence[dict[str, Any]],
    arrivals: Sequence[datetime],
    buffer: timedelta = timedelta(minutes=5),
    compress: bool = True,
) -> list[str]:
    """Buffer the records by arrival, as a delivery stream does: a buffer opens with the first record that
    arrives and is delivered `buffer` later, as one object named and foldered by the arrival time of its
    OLDEST record (Firehose's rule for its time prefix), so a buffer opened at 10:58 lands in the 10
    folder with the records of 11:00-11:03. Return the keys written."""
    keys = []
    pending = sorted(zip(records, arrivals, strict=True), key=lambda p: p[1])
    while pending:
        opened = pending[0][1]
        batch = [r for r, arrived in pending if arrived < opened + buffer]
        pending = pending[len(batch) :]
        name = f"{stream}-1-{opened:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"
        key = f"{prefix}{opened:%Y/%m/%d/%H}/{name}"
        body = json_lines(batch)
        put_object(location, key, gzip.compress(body) if compress else body)
        _landed(location, key, opened + buffer)
        keys.append(key)
    return keys


def write_kafka_connect(
    location: str,
    topic: str,
    records: Sequence[dict[str, Any]],
    arrivals: Sequence[datetime],
    fmt: str,
    partitions: int = 2,
    flush_size: int = 500,
    parquet_schema: pa.Schema | None = None,
) -> list[str]:
    """Records go round-robin to `partitions` Kafka partitions (offsets counting from 0 in each); each
    partition's records are written in arrival order, a new object at each arrival hour or every
    `flush_size` records, named by the offset of its first record."""
    keys = []
    ordered = sorted(zip(records, arrivals, strict=True), key=lambda p: p[1])
    for part in range(partitions):
        mine = ordered[part::partitions]
        start = 0
        while start < len(mine):
            hour = mine[start][1].replace(minute=0, second=0, microsecond=0)
            end = start
            while end < len(mine) and end - start < flush_size and mine[end][1] < hour + timedelta(hours=1):
                end += 1
            batch = [r for r, _ in mine[start:end]]
            folder = f"topics/{topic}/year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"
            key = f"{folder}{topic}+{part}+{start:010d}.{'json' if fmt == 'json' else 'parquet'}"
            put_object(location, key, json_lines(batch) if fmt == "json" else _parquet(batch, parquet_schema))
            _landed(location, key, mine[end - 1][1])
            keys.append(key)
            start = end
    return keys


def _parquet(batch: Sequence[dict[str, Any]], schema: pa.Schema | None) -> bytes:
    rows = [dict(r) for r in batch]
    for r in rows:
        for name, value in r.items():
            if schema is not None and pa.types.is_timestamp(schema.field(name).type) and value is not None:
                r[name] = datetime.fromisoformat(value)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    return buffer.getvalue()
