"""Which objects an hour of logs is read from, and which hour each record belongs to (no Dagster).

Partitioned by arrival (the hive default), an hour is its own folder. Partitioned by event time (what
the Firehose and Kafka Connect sinks need: they write by arrival), hour H is the records whose timestamp
is in H, read from the arrival folders H ... H+k, k = `model.arrival_folders`. A record with no timestamp
stays in its arrival folder's hour (where the data-quality checks see it).

Every record is counted once: the load of arrival hour A is the one that counts the records of folder A
that no hour reads (`OUTSIDE_SQL`): late ones, whose event hour E < A - k (its window closed before A),
and early ones, E > A (a clock ahead of the sink's).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline import readers
from monitoring_pipeline.storage import duck
from monitoring_pipeline.storage.object_store import ObjectStore, StoredObject

HOUR = timedelta(hours=1)


def arrival_hours(model: ModelConfig, hour: datetime) -> list[datetime]:
    """The arrival folders hour `hour` is read from, oldest first."""
    return [hour + i * HOUR for i in range(model.arrival_folders + 1)]


def window_end(model: ModelConfig, hour: datetime) -> datetime:
    """When the hour's last arrival folder closes (its own end, partitioned by arrival)."""
    return hour + (model.arrival_folders + 1) * HOUR


def hour_objects(
    model: ModelConfig, store: ObjectStore, hour: datetime
) -> list[tuple[StoredObject, datetime]]:
    """The log objects of the hour's arrival folders with the hour of the folder each is in; one listing
    per folder, never of the whole prefix."""
    found = []
    for folder in arrival_hours(model, hour):
        for obj in store.list(model.key_layout.folder(folder)):
            if readers.is_data_key(obj.key, model.logs_format):
                found.append((obj, folder))
    return found


def event_hour_sql(model: ModelConfig) -> str:
    """A staged row's hour: its timestamp's UTC hour, else (no timestamp) its arrival folder's."""
    ts = duck.quote_identifier(model.timestamp_column)
    return f"coalesce(date_trunc('hour', {ts}), arrival_hour)"


def outside_sql(model: ModelConfig, table: str) -> str:
    """(event_hour, kind, rows) of the records in arrival folder $1 that no hour reads; parameters: the
    arrival hour, the first event hour whose window reaches it ($1 - k hours)."""
    event = event_hour_sql(model)
    kind = f"CASE WHEN {event} < $2 THEN 'late' ELSE 'early' END"
    where = f"arrival_hour = $1 AND ({event} < $2 OR {event} > $1)"
    source = duck.quote_identifier(table)
    select = f"SELECT {event} AS event_hour, {kind} AS kind, count(*) AS rows FROM {source}"  # noqa: S608 (quoted identifiers; values bound)
    return f"{select} WHERE {where} GROUP BY ALL ORDER BY event_hour"
