"""Which objects an hour of logs is read from, which hour each record belongs to, and the read itself
for every hour that is not plain Parquet by arrival (no Dagster).

Partitioned by arrival (the hive default), an hour is its own folder. Partitioned by event time (what
the Firehose and Kafka Connect sinks need: they write by arrival), hour H is the records whose timestamp
is in H, read from the arrival folders H-j ... H+k: k = `model.arrival_folders` for records that land
late, j = `model.lead_folders` for a sink that names a buffer by its oldest record (Firehose: a buffer
opened at 10:58 lands in the 10 folder with records of 11:00-11:03). A record with no timestamp stays in
its arrival folder's hour (where the data-quality checks see it).

Every record is counted once: the load of arrival hour A is the one that counts the records of folder A
that no hour reads (`outside`): late ones, whose event hour E < A - k (its window closed before A) or
before the first partition, and early ones, E > A + j (a clock ahead of the sink's). Bad lines skipped
are counted the same way, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline import readers
from monitoring_pipeline.pipeline.column_types import IngestError, expected_columns
from monitoring_pipeline.storage import duck
from monitoring_pipeline.storage.object_store import ObjectStore, StoredObject

HOUR = timedelta(hours=1)
STAGE = "arrived_rows"  # the scratch table text objects are staged in (connection-local)
ARRIVAL = ("arrival_hour", "TIMESTAMPTZ")  # the column every read row gets: its folder's hour


def arrival_hours(model: ModelConfig, hour: datetime) -> list[datetime]:
    """The arrival folders hour `hour` is read from, oldest first."""
    return [hour + i * HOUR for i in range(-model.lead_folders, model.arrival_folders + 1)]


def window_end(model: ModelConfig, hour: datetime) -> datetime:
    """When the hour's last arrival folder closes (its own end, partitioned by arrival)."""
    return hour + (model.arrival_folders + 1) * HOUR


def hour_objects(
    model: ModelConfig, store: ObjectStore, hour: datetime
) -> list[tuple[StoredObject, datetime]]:
    """The log objects of the hour's arrival folders with the hour of the folder each is in; one listing
    per folder, never of the whole prefix."""
    folders = arrival_hours(model, hour)
    return [(obj, folder) for folder in folders for obj in folder_objects(model, store, folder)]


def folder_objects(model: ModelConfig, store: ObjectStore, folder: datetime) -> list[StoredObject]:
    """The log objects of one arrival folder (markers, hidden and side files left out): one listing."""
    keys = model.key_layout.folder(folder)
    return [o for o in store.list(keys) if readers.is_data_key(o.key, model.logs_format)]


def event_hour_sql(model: ModelConfig) -> str:
    """A read row's hour: its timestamp's UTC hour, else (no timestamp) its arrival folder's."""
    ts = duck.quote_identifier(model.timestamp_column)
    return f"coalesce(date_trunc('hour', {ts}), arrival_hour)"


@dataclass(frozen=True)
class Outside:
    """What an hour's load counted of its own arrival folder: records no hour reads, lines skipped."""

    late: int = 0
    early: int = 0
    bad_lines: int = 0
    by_event_hour: tuple[tuple[datetime, str, int], ...] = ()  # (event hour, late | early, rows)


@dataclass(frozen=True)
class Source:
    """Rows with the stage's columns: a FROM item and its parameters."""

    sql: str
    params: tuple[Any, ...] = ()


def read_hour(
    conn: Any,
    model: ModelConfig,
    hour: datetime,
    found: Sequence[tuple[StoredObject, datetime]],
    paths: Sequence[Path],
    detected: Sequence[readers.Detected],
    target: Path,
) -> tuple[int, Outside]:
    """Write the hour's rows to `target` (all of them when partitioned by arrival, else those of its event
    hour) from objects of any format; return the rows written and what was counted. Parquet and Avro
    objects are checked, then read in place (twice: rows and counts, cheaper than copying them); any text
    object makes every object go through the stage table."""
    columns = expected_columns(model)
    names = [c for c, _ in columns] + ["source_object", ARRIVAL[0]]
    own = [folder == hour for _, folder in found]
    if found and all(d.format in readers.TYPED for d in detected):
        parts = [
            readers.typed_source(conn, columns, o.uri, p, d, [folder])
            for (o, folder), p, d in zip(found, paths, detected, strict=True)
        ]
        rows_from = _union(parts, names)
        own_from = _union([part for part, mine in zip(parts, own, strict=True) if mine], names)
        bad_lines = 0
    else:
        bad_lines = _stage(conn, model, hour, found, paths, detected, own)
        rows_from = own_from = Source(STAGE)
    try:
        kept = ", ".join(duck.quote_identifier(c) for c, _ in columns)
        where = f"WHERE {event_hour_sql(model)} = ?" if model.event_time else ""
        columns_out = f"{kept}, ?::TIMESTAMPTZ AS partition_hour, source_object"
        select = f"SELECT {columns_out} FROM {rows_from.sql} {where}"  # noqa: S608 (quoted identifiers; values bound)
        params = [hour, *rows_from.params] + ([hour] if model.event_time else [])
        rows = duck.copy_to_parquet(conn, select, params, target)
        outside = _outside(conn, model, hour, own_from) if model.event_time and own_from else ()
    except duckdb.Error as exc:  # reading the objects' rows: name them, not our local copies of them
        message = str(exc)
        for (obj, _), path in zip(found, paths, strict=True):
            message = message.replace(str(path), obj.uri)
        objects = ", ".join(o.uri for o, _ in found)
        raise IngestError(f"cannot read the rows of {objects}: {message}") from exc
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {STAGE}")
    return rows, Outside(
        late=sum(n for _, kind, n in outside if kind == "late"),
        early=sum(n for _, kind, n in outside if kind == "early"),
        bad_lines=bad_lines,
        by_event_hour=outside,
    )


def _union(parts: Sequence[tuple[str, list[Any]]], names: Sequence[str]) -> Source | None:
    if not parts:
        return None
    body = " UNION ALL ".join(f"({sql})" for sql, _ in parts)
    aliases = ", ".join(duck.quote_identifier(n) for n in names)
    return Source(f"({body}) AS arrived({aliases})", tuple(v for _, params in parts for v in params))


def _stage(
    conn: Any,
    model: ModelConfig,
    hour: datetime,
    found: Sequence[tuple[StoredObject, datetime]],
    paths: Sequence[Path],
    detected: Sequence[readers.Detected],
    own: Sequence[bool],
) -> int:
    """Stage every object; fail past the bad-line share or on a column no record holds. Return the bad
    lines of the hour's own folder (each folder's are counted once, by its own hour)."""
    columns = expected_columns(model)
    readers.create_stage(conn, STAGE, columns, [ARRIVAL])
    share, unit = model.thresholds.max_bad_line_share, model.timestamp_epoch_unit
    staged = [
        readers.stage_object(conn, STAGE, columns, o.uri, p, d, [folder], share > 0, unit)
        for (o, folder), p, d in zip(found, paths, detected, strict=True)
    ]
    bad, lines = sum(s.bad_lines for s in staged), sum(s.rows + s.bad_lines for s in staged)
    if bad > share * lines:
        first = next(s.first_bad for s in staged if s.first_bad)
        raise IngestError(
            f"{model.name} {hour:%Y-%m-%d %H}:00: {bad} of {lines} lines are malformed ({bad / lines:.3%}; "
            f"thresholds.max_bad_line_share allows {share:.3%}); the first: {first}"
        )
    with_rows = [s for s in staged if s.rows]
    absent = set.intersection(*(set(s.absent) for s in with_rows)) if with_rows else set()
    if absent:
        raise IngestError(
            f"{model.name} {hour:%Y-%m-%d %H}:00: column(s) {sorted(absent)} declared but present in no "
            f"record of {', '.join(s.uri for s in with_rows)}"
        )
    return sum(s.bad_lines for s, mine in zip(staged, own, strict=True) if mine)


def _outside(conn: Any, model: ModelConfig, hour: datetime, source: Source) -> tuple[Any, ...]:
    """(event hour, late | early, rows) of the records in the hour's own arrival folder that no hour
    reads: older than the first hour whose folders reach it (or than the first partition: no hour before
    it is ever loaded), or later than the last."""
    first = max(hour - model.arrival_folders * HOUR, model.partitions_start)
    last = hour + model.lead_folders * HOUR
    picked = f"{event_hour_sql(model)} AS event_hour, ?::TIMESTAMPTZ AS first, ?::TIMESTAMPTZ AS last"
    inner = f"SELECT {picked} FROM {source.sql} WHERE arrival_hour = ?"  # noqa: S608 (quoted identifiers; values bound)
    kind = "CASE WHEN event_hour < first THEN 'late' ELSE 'early' END AS kind"
    outside = "event_hour < first OR event_hour > last"
    counted = f"SELECT event_hour, {kind}, count(*) AS rows FROM ({inner})"  # noqa: S608 (constants around `inner`)
    sql = f"{counted} WHERE {outside} GROUP BY ALL ORDER BY 1"
    return tuple(conn.execute(sql, [first, last, *source.params, hour]).fetchall())
