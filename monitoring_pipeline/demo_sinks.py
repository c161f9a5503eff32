"""The demo's logs as a streaming sink lands them: Kinesis Data Firehose's default S3 delivery.

`seed-demo --layout firehose` sends each model's records through one delivery stream, as a serving
fleet logging to Firehose would: a record reaches the stream a little after its prediction (its
arrival), the stream buffers what arrives and flushes the buffer every `BUFFER_INTERVAL` (or once it
holds `BUFFER_BYTES`), and each flush becomes one object, gzip-compressed JSON lines, named
`<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>` (no extension) in the folder (`<model>/YYYY/MM/DD/HH/`,
the `firehose` preset) of the arrival time of its OLDEST record, Firehose's rule for its time prefix.
So a record logged at 10:58 can land in the 11 folder, and one logged at 11:01 in the 10 folder (its
buffer opened at 10:58): an event hour is spread over its own folder and its neighbours.
The records are exactly those of the hive layout (the same generator and draws): the arrival delays
and object names come from a random generator of their own.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring_pipeline.config.key_layout import key_layout
from monitoring_pipeline.storage.object_store import LocalObjectStore, ObjectStore

STREAM_VERSION = 1  # Firehose numbers a stream's configurations from 1
BUFFER_INTERVAL = timedelta(minutes=5)  # Firehose's default buffering hints: 300 s or 5 MiB
BUFFER_BYTES = 5 * 1024 * 1024
MEAN_DELAY = timedelta(seconds=90)  # from the prediction to the stream: exponential, capped
MAX_DELAY = timedelta(minutes=7)
HOUR = timedelta(hours=1)
NS = 1_000_000_000
ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # a NaN left is an error, not "NaN"


def stream_name(model: str) -> str:
    return f"{model}-stream"


def spill_hours() -> int:
    """How many arrival folders after its own an hour's records can reach (its last one is flushed at
    most MAX_DELAY + BUFFER_INTERVAL after the hour ends)."""
    return -(-(MAX_DELAY + BUFFER_INTERVAL) // HOUR)


def json_lines(frame: pd.DataFrame) -> list[bytes]:
    """One JSON object per row, as a service logging to Firehose serializes it: timestamps as ISO-8601
    strings with their offset (UTC), missing values as null, floats exactly (shortest repr)."""
    columns = []
    for _, column in frame.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            utc = column.dt.tz_convert(UTC) if column.dt.tz is not None else column.dt.tz_localize(UTC)
            column = utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        columns.append(column.astype(object).where(column.notna(), None).tolist())
    names = [str(c) for c in frame.columns]
    return [ENCODER.encode(dict(zip(names, row, strict=True))).encode() for row in zip(*columns, strict=True)]


class FirehoseDelivery:
    """One model's delivery stream. `put` each hour's records in hour order, then `close`: a buffer is
    flushed once no record still to come could join it (none arrives before the end of the hour put
    last), so memory holds about an hour of records."""

    def __init__(self, store: ObjectStore, model: str, rng: np.random.Generator, time_column: str) -> None:
        self.store, self.model, self.rng, self.time_column = store, model, rng, time_column
        self.layout = key_layout("firehose", model, {})
        self._arrival = np.empty(0, dtype="int64")  # pending records, by arrival (ns since the epoch)
        self._sizes = np.empty(0, dtype="int64")  # their bytes, newline included
        self._lines: list[bytes] = []
        self.objects = 0

    def clear(self, hours: list[datetime]) -> None:
        """Delete what an earlier seeding left in the arrival folders of `hours`: its flushes fell at other
        times, so its objects would not be overwritten but would add to this seeding's records."""
        for index in range(len(hours) + spill_hours()):
            for obj in self.store.list(self.layout.folder(hours[0] + index * HOUR)):
                self.store.delete(obj.key)

    def put(self, frame: pd.DataFrame, hour: datetime) -> None:
        """Send the records of `hour` (all of them: the next call's records come from a later hour)."""
        event = pd.DatetimeIndex(frame[self.time_column]).as_unit("ns").asi8
        delay = self.rng.exponential(MEAN_DELAY.total_seconds(), len(frame))
        delay = np.minimum(delay, MAX_DELAY.total_seconds())
        lines = json_lines(frame)
        arrival = np.concatenate([self._arrival, event + (delay * NS).astype("int64")])
        sizes = np.concatenate([self._sizes, np.array([len(line) + 1 for line in lines], dtype="int64")])
        order = np.argsort(arrival, kind="stable")
        everything = self._lines + lines
        self._arrival, self._sizes = arrival[order], sizes[order]
        self._lines = [everything[i] for i in order]
        self._deliver(until=int((hour + HOUR).timestamp()) * NS)

    def close(self) -> None:
        """Flush what is left: the last hour's records that arrive after it ends (its spill-over folder)."""
        self._deliver(until=None)

    def _deliver(self, until: int | None) -> None:
        """Flush every buffer that closes by `until` (ns; None: all). A buffer opens with the first record
        it takes and closes BUFFER_INTERVAL later, or at the record that brings it to BUFFER_BYTES."""
        while self._lines:
            deadline = int(self._arrival[0]) + int(BUFFER_INTERVAL.total_seconds()) * NS
            by_time = int(np.searchsorted(self._arrival, deadline, side="left"))
            filled = np.cumsum(self._sizes[:by_time])
            by_size = int(np.searchsorted(filled, BUFFER_BYTES, side="left")) + 1
            if by_size <= by_time:  # full before its interval ends: flushed as its last record arrives
                count, flushed = by_size, int(self._arrival[by_size - 1])
            else:
                count, flushed = by_time, deadline
            if until is not None and flushed > until:
                return  # a record still to come may arrive before this buffer closes
            self._write(self._lines[:count], int(self._arrival[0]), flushed)
            self._arrival, self._sizes, self._lines = (
                self._arrival[count:],
                self._sizes[count:],
                self._lines[count:],
            )

    def _write(self, lines: list[bytes], opened_ns: int, flushed_ns: int) -> None:
        """One delivery: named and foldered by its oldest record's arrival, landed when flushed."""
        opened = datetime.fromtimestamp(opened_ns // NS, UTC)
        name = f"{stream_name(self.model)}-{STREAM_VERSION}-{opened:%Y-%m-%d-%H-%M-%S}-{self._uuid()}"
        body = gzip.compress(
            b"".join(line + b"\n" for line in lines), compresslevel=6, mtime=0
        )  # mtime 0: deterministic
        with tempfile.TemporaryDirectory(prefix="monitoring-demo-") as tmp:
            local = Path(tmp) / name
            local.write_bytes(body)
            written = self.store.put_file(local, self.layout.folder(opened) + name, move=True)
        if isinstance(self.store, LocalObjectStore):  # landed when it was flushed, as on S3
            os.utime(written, (flushed_ns / NS, flushed_ns / NS))
        self.objects += 1

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.rng.bytes(16), version=4)
