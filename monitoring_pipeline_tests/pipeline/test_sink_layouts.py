"""Logs landed by streaming sinks (Firehose, Kafka Connect) are read by event hour from their arrival
folders: each hour holds exactly the records whose timestamp is in it and that arrived within the delay
(some of them in the next hour's folder); a record beyond the delay, or ahead of its hour, is counted
once by its folder's load and flagged, never dropped silently nor counted twice. On the local store and
on S3, against counts computed here from the generated records."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from monitoring_pipeline.checks.registry import evaluate
from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.defs.schedules import due_hour
from monitoring_pipeline.pipeline.ingest import IngestError, IngestResult, ingest_hour
from monitoring_pipeline.storage import catalog, duck
from monitoring_pipeline.storage.object_store import open_store
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.sinks import Records, sink_traffic, write_firehose, write_kafka_connect
from monitoring_pipeline_tests.stores import Stores

H0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)
EVENT_HOURS = 3
PARTITIONS = [H0 + i * HOUR for i in range(-3, 6)]  # they own every arrival folder the records land in


def model(logs: str, layout: str, nested: bool = True, **extra: Any) -> ModelConfig:
    features: dict[str, str] = {"amount": "numerical", "country": "categorical"}
    if nested:
        features["device.os"] = "categorical"
    return ModelConfig(
        name="shop",
        task="classification",
        logs=logs,
        logs_layout=layout,
        timestamp_column="ts",
        id_column="id",
        features=features,
        predictions={"score": "numerical"},
        **({"partitions_start": H0 - timedelta(days=1)} | extra),
    )


def traffic(seed: int, nested: bool = True) -> tuple[Records, list[datetime]]:
    return sink_traffic(H0, EVENT_HOURS, 300, seed, nested=nested)


def expected(records: Records, arrivals: list[datetime], k: int = 1, lead: int = 0) -> dict[str, Any]:
    """Per partition: the ids it holds, and the late / early records its own folder holds. Hour E reads
    the folders E - lead ... E + k."""
    ids: dict[datetime, set[str]] = {p: set() for p in PARTITIONS}
    late: Counter[datetime] = Counter()
    early: Counter[datetime] = Counter()
    for record, arrived in zip(records, arrivals, strict=True):
        event = datetime.fromisoformat(record["ts"]).replace(minute=0, second=0, microsecond=0)
        folder = arrived.replace(minute=0, second=0, microsecond=0)
        if event - lead * HOUR <= folder <= event + k * HOUR:
            ids[event].add(record["id"])
        elif folder > event:
            late[folder] += 1
        else:
            early[folder] += 1
    return {"ids": ids, "late": late, "early": early}


def load_all(m: ModelConfig, wh: Warehouse) -> dict[datetime, IngestResult]:
    logs = open_store(m.logs)
    return {p: ingest_hour(m, p, logs, wh) for p in PARTITIONS}


def partition_file(wh: Warehouse, hour: datetime) -> str:
    """A local copy of the hour's published partition."""
    store = open_store(wh.tables_root)
    found = store.head(catalog.prediction_logs.key("shop", hour))
    assert found is not None, hour
    return str(store.fetch([found])[0])


def stored_ids(wh: Warehouse, hour: datetime) -> list[str]:
    with duck.scratch() as conn:
        sql = "SELECT id FROM read_parquet(?)"
        return [r[0] for r in conn.execute(sql, [partition_file(wh, hour)]).fetchall()]


def assert_exact(m: ModelConfig, wh: Warehouse, records: Records, arrivals: list[datetime]) -> None:
    want = expected(records, arrivals, m.arrival_folders, m.lead_folders)
    results = load_all(m, wh)
    assert sum(want["late"].values()) > 0 and sum(want["early"].values()) > 0  # the scenario has both
    for hour, result in results.items():
        got = stored_ids(wh, hour)
        assert len(got) == len(set(got)), f"{hour}: a record counted twice"
        assert set(got) == want["ids"][hour], hour
        assert result.rows == len(want["ids"][hour])
        assert (result.late_records, result.early_records) == (want["late"][hour], want["early"][hour]), hour
        outcome = evaluate(m, "records_arrived_within_delay", hour, wh)
        assert outcome.passed == (want["late"][hour] + want["early"][hour] == 0), hour
        assert outcome.observed == want["late"][hour] + want["early"][hour]
    # every record is in exactly one hour or counted once as outside every hour
    counted = sum(r.rows + (r.late_records or 0) + (r.early_records or 0) for r in results.values())
    assert counted == len(records)
    facts = wh.results.hour_rows(catalog.hour_facts, "shop", PARTITIONS)
    assert {f["partition_hour"]: f["late_records"] for f in facts} == {p: want["late"][p] for p in PARTITIONS}
    by_event = wh.results.hour_rows(catalog.late_arrivals, "shop", PARTITIONS)
    assert sum(r["rows"] for r in by_event) == sum(want["late"].values()) + sum(want["early"].values())


def arrived_in(wh: Warehouse, m: ModelConfig, hour: datetime, folder_hour: datetime) -> int:
    """Rows of the hour read from another hour's arrival folder."""
    folder = m.key_layout.folder(folder_hour)
    with duck.scratch() as conn:
        sql = "SELECT count(*) FROM read_parquet(?) WHERE contains(source_object, ?)"
        return int(conn.execute(sql, [partition_file(wh, hour), folder]).fetchone()[0])


def test_firehose_gzip_json_lines_are_read_by_event_hour(stores: Stores, tmp_path: Path) -> None:
    logs = f"{stores.root}/firehose"
    records, arrivals = traffic(seed=1)
    keys = write_firehose(logs, "shop-stream/", "shop-stream", records, arrivals)
    assert all("." not in k.rsplit("/", 1)[1] for k in keys)  # Firehose's default names: no extension
    m = model(logs, "firehose", logs_fields={"prefix": "shop-stream/"})
    assert m.event_time and m.arrival_folders == 1
    wh = Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    assert_exact(m, wh, records, arrivals)
    assert arrived_in(wh, m, H0, H0 + HOUR) > 0  # landed in the next hour's folder
    # a buffer opened before the hour is foldered by its oldest record: read from the previous folder
    assert m.lead_folders == 1
    assert sum(arrived_in(wh, m, h, h - HOUR) for h in (H0 + HOUR, H0 + 2 * HOUR)) > 0
    with duck.scratch() as conn:  # the nested field is read, not left null
        sql = 'SELECT count("device.os"), count(*) FROM read_parquet(?)'
        assert len(set(conn.execute(sql, [partition_file(wh, H0)]).fetchone())) == 1


KC_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("us", tz="UTC")),
        ("id", pa.string()),
        ("amount", pa.float64()),
        ("country", pa.string()),
        ("score", pa.float64()),
    ]
)


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_kafka_connect_objects_are_read_by_event_hour(stores: Stores, tmp_path: Path, fmt: str) -> None:
    logs = f"{stores.root}/kafka"
    nested = fmt == "json"
    records, arrivals = traffic(seed=2, nested=nested)
    keys = write_kafka_connect(logs, "shop", records, arrivals, fmt, parquet_schema=KC_SCHEMA)
    assert any("+1+" in k for k in keys) and all(k.startswith("topics/shop/year=2026/") for k in keys)
    m = model(logs, "kafka_connect", nested=nested)
    wh = Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    assert_exact(m, wh, records, arrivals)
    assert arrived_in(wh, m, H0 + HOUR, H0 + 2 * HOUR) > 0


def test_a_rerun_replaces_the_hour_and_its_counts(stores: Stores, tmp_path: Path) -> None:
    """Re-loading an hour after a late object landed in its next folder: the hour gains those records,
    nothing is duplicated, and the late counts are replaced, not added."""
    logs = f"{stores.root}/firehose"
    records, arrivals = traffic(seed=3)
    m = model(logs, "firehose", logs_fields={"prefix": "s/"})
    wh = Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    write_firehose(logs, "s/", "s", records, arrivals)
    first = ingest_hour(m, H0, open_store(logs), wh)
    straggler = {**records[0], "id": "straggler", "ts": (H0 + timedelta(minutes=59)).isoformat()}
    write_firehose(logs, "s/", "s", [straggler], [H0 + timedelta(minutes=70)])
    again = ingest_hour(m, H0, open_store(logs), wh)
    assert again.rows == first.rows + 1
    got = stored_ids(wh, H0)
    assert "straggler" in got and len(got) == len(set(got))
    facts = wh.results.hour_rows(catalog.late_arrivals, "shop", [H0])
    assert sum(r["rows"] for r in facts) == again.early_records  # replaced: one set of rows


def test_an_event_time_hour_is_due_once_its_last_arrival_folder_closed(tmp_path: Path) -> None:
    m = model(str(tmp_path), "firehose")
    at = datetime(2026, 3, 1, 10, 45, tzinfo=UTC)  # the 09 folder closed at 10:00, 45 min > the 30 min lag
    assert due_hour(m, at) == datetime(2026, 3, 1, 8, tzinfo=UTC)
    hive = model(str(tmp_path), "hive")
    assert due_hour(hive, at) == datetime(2026, 3, 1, 9, tzinfo=UTC)
    two = model(str(tmp_path), "firehose", max_arrival_delay_minutes=61)
    assert two.arrival_folders == 2 and due_hour(two, at) == datetime(2026, 3, 1, 7, tzinfo=UTC)


class ListingRecorder:
    """A store that records every prefix it is asked to list (and otherwise is the store)."""

    def __init__(self, store: Any) -> None:
        self.store, self.listed = store, []

    def list(self, prefix: str) -> list[Any]:
        self.listed.append(prefix)
        return self.store.list(prefix)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_an_hour_lists_only_its_arrival_folders(stores: Stores, tmp_path: Path) -> None:
    logs = f"{stores.root}/kafka"
    records, arrivals = traffic(seed=4, nested=False)
    write_kafka_connect(logs, "shop", records, arrivals, "parquet", parquet_schema=KC_SCHEMA)
    m = model(logs, "kafka_connect", nested=False)
    recorder = ListingRecorder(open_store(logs))
    ingest_hour(m, H0, recorder, Warehouse(str(tmp_path / "results.sqlite"), stores.data))
    assert recorder.listed == [
        "topics/shop/year=2026/month=03/day=01/hour=08/",
        "topics/shop/year=2026/month=03/day=01/hour=09/",
    ]
    firehose = model(logs, "firehose")  # and the folder before: a buffer opened there is foldered there
    recorder = ListingRecorder(open_store(logs))
    ingest_hour(firehose, H0, recorder, Warehouse(str(tmp_path / "results.sqlite"), stores.data))
    assert recorder.listed == ["shop/2026/03/01/07/", "shop/2026/03/01/08/", "shop/2026/03/01/09/"]


def test_records_before_the_first_partition_are_counted_not_dropped(stores: Stores, tmp_path: Path) -> None:
    """The first partition's own folder holds records of the hour before it, which no hour will ever
    load: they are counted as late there, not silently lost."""
    logs = f"{stores.root}/kafka"
    records, arrivals = traffic(seed=7, nested=False)  # event hours H0 .. H0+2
    write_kafka_connect(logs, "shop", records, arrivals, "parquet", parquet_schema=KC_SCHEMA)
    first = H0 + HOUR
    m = model(logs, "kafka_connect", nested=False, partitions_start=first)
    wh = Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    result = ingest_hour(m, first, open_store(logs), wh)
    folders = [a.replace(minute=0, second=0, microsecond=0) for a in arrivals]
    pairs = zip(records, folders, strict=True)
    before = [r for r, folder in pairs if folder == first and datetime.fromisoformat(r["ts"]) < first]
    assert before and result.late_records >= len(before)  # H0's records that landed in H0+1's folder
    by_event = wh.results.hour_rows(catalog.late_arrivals, "shop", [first])
    assert {r["event_hour"]: r["rows"] for r in by_event}.get(H0) == len(before)


def test_bad_lines_within_the_share_are_skipped_and_counted_once(stores: Stores, tmp_path: Path) -> None:
    """An hour reads its own folder and the next: the bad lines of each folder are counted by the hour
    whose own folder it is; past `max_bad_line_share` of the lines read, the hour fails naming one."""
    logs = f"{stores.root}/kafka"
    folder = "topics/shop/year=2026/month=03/day=01/hour={:02d}/"
    good = [
        {"ts": (H0 + timedelta(minutes=10 + i)).isoformat(), "id": f"g{i}", "amount": 1.0, "country": "fr",
         "score": 0.5}
        for i in range(18)
    ]  # fmt: skip
    lines = [json.dumps(r) for r in good]
    stores.put(logs, folder.format(8) + "shop+0+0000000000.json", "\n".join([*lines[:9], "{oops"]).encode())
    stores.put(logs, folder.format(9) + "shop+0+0000000010.json", "\n".join([*lines[9:], "[1]"]).encode())
    wh = Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    allowed = model(logs, "kafka_connect", nested=False, thresholds={"max_bad_line_share": 0.2})
    result = ingest_hour(allowed, H0, open_store(logs), wh)
    assert (result.rows, result.bad_lines) == (18, 1)  # both folders read, only its own folder's counted
    [fact] = wh.results.hour_rows(catalog.hour_facts, "shop", [H0], "partition_hour", "bad_lines")
    assert fact["bad_lines"] == 1
    strict = model(logs, "kafka_connect", nested=False, thresholds={"max_bad_line_share": 0.05})
    with pytest.raises(IngestError, match=r"2 of 20 lines are malformed .*line 10: not valid JSON"):
        ingest_hour(strict, H0, open_store(logs), wh)
    with pytest.raises(IngestError, match=r"shop\+0\+0000000000\.json: line 10"):  # default: none allowed
        ingest_hour(model(logs, "kafka_connect", nested=False), H0, open_store(logs), wh)


def test_kafka_connect_json_with_epoch_millisecond_timestamps(stores: Stores, tmp_path: Path) -> None:
    """Kafka Connect's JsonConverter writes a Connect Timestamp as epoch milliseconds: with
    timestamp_epoch_unit: ms each record falls in its event hour as with ISO strings."""
    logs = f"{stores.root}/kafka"
    records, arrivals = traffic(seed=8, nested=False)
    millis = [{**r, "ts": round(datetime.fromisoformat(r["ts"]).timestamp() * 1000)} for r in records]
    write_kafka_connect(logs, "shop", millis, arrivals, "json")
    m = model(logs, "kafka_connect", nested=False, timestamp_epoch_unit="ms")
    want = expected(records, arrivals, m.arrival_folders, m.lead_folders)
    wh = Warehouse(str(tmp_path / "results.sqlite"), stores.data)
    results = load_all(m, wh)
    for hour in PARTITIONS:
        assert set(stored_ids(wh, hour)) == want["ids"][hour], hour
        assert results[hour].late_records == want["late"][hour]
