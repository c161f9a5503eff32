"""`seed-demo --layout firehose`: the demo as Kinesis Data Firehose's default S3 delivery lands it, on the
local store and on S3. Read back independently of the pipeline (gzip, json, pyarrow for the hive
reference): the object names and folders Firehose would write, each record in an arrival folder no
earlier than its hour and at most 15 minutes after it, and per event hour exactly the hive layout's rows.
The shipped monitors file follows the layout seeded (`logs_layout: demo`).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from monitoring_pipeline.cli import _demo_window, main
from monitoring_pipeline.config import load_config
from monitoring_pipeline.config.demo_window import DEMO_LAYOUTS, demo_layout, read_demo_window
from monitoring_pipeline.demo import DEMO_MODELS, demo_hours, seed_demo
from monitoring_pipeline.pipeline.ingest import ingest_hour
from monitoring_pipeline.storage import catalog, layout
from monitoring_pipeline.storage.object_store import LocalObjectStore, ObjectStore, open_store
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import use_s3
from monitoring_pipeline_tests.s3 import BUCKET
from monitoring_pipeline_tests.stores import Stores

MODEL = "fraud_classifier"
END = datetime(2026, 11, 24, 0, tzinfo=UTC)
HOURS = demo_hours(END, 33)  # hour 30 is the empty hour, 31 the missing one (INCIDENTS)
HOUR = timedelta(hours=1)
MAX_LATENESS = timedelta(minutes=15)  # after its hour ends, the latest a record may land
BUFFER = timedelta(minutes=5)  # the default buffer interval: delivered at most this after it opened
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
FIREHOSE_KEY = (
    re.compile(  # <prefix>YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>, no extension
        rf"^{MODEL}/(?P<folder>\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}})/{MODEL}-stream-1-"
        rf"(?P<opened>\d{{4}}-\d{{2}}-\d{{2}}-\d{{2}}-\d{{2}}-\d{{2}})-{UUID}$"
    )
)


@dataclass(frozen=True)
class Delivered:
    key: str
    folder: datetime  # the arrival hour of the folder
    opened: datetime  # from the object's name: its oldest record's arrival
    modified: datetime | None
    records: list[dict]


@dataclass(frozen=True)
class Seeded:
    kind: str
    rows: int  # as seed_demo reported them
    objects: list[Delivered]
    hive: dict[datetime, list[dict]]  # the hive layout's rows, by hour


def read_delivered(store: ObjectStore) -> list[Delivered]:
    """Every object under the model's prefix, checked to be a Firehose object and parsed."""
    found = store.list(f"{MODEL}/")
    delivered = []
    for obj, path in zip(found, store.fetch(found), strict=True):
        match = FIREHOSE_KEY.match(obj.key)
        assert match, f"not a Firehose default object name: {obj.key}"
        body = path.read_bytes()
        assert body[:2] == b"\x1f\x8b", f"{obj.key}: not gzip"
        lines = gzip.decompress(body).decode().splitlines()
        delivered.append(
            Delivered(
                obj.key,
                datetime.strptime(match["folder"], "%Y/%m/%d/%H").replace(tzinfo=UTC),
                datetime.strptime(match["opened"], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC),
                obj.modified,
                [json.loads(line) for line in lines],
            )
        )
    return delivered


def read_hive(root: Path) -> dict[datetime, list[dict]]:
    rows = {}
    for hour in HOURS:
        folder = root / MODEL / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        rows[hour] = [r for p in sorted(folder.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    return rows


def event_of(record: dict) -> datetime:
    value = datetime.fromisoformat(record["event_time"])
    assert value.utcoffset() == timedelta(0), f"not an ISO-8601 UTC time with its offset: {record}"
    return value


@pytest.fixture(scope="module", params=["local", "s3"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """The same 33 hours seeded in the hive layout (locally, the reference) and in the firehose layout
    (on the parametrized store), read back once."""
    folder = tmp_path_factory.mktemp("firehose")
    seed_demo({MODEL: LocalObjectStore(folder / "hive")}, end=END, hours=len(HOURS))
    with pytest.MonkeyPatch.context() as env:
        location = str(folder / "firehose")
        if request.param == "s3":
            use_s3(request.getfixturevalue("s3_server"), env)
            location = f"s3://{BUCKET}/{folder.name}/firehose"
        store = open_store(location)
        rows = seed_demo({MODEL: store}, end=END, hours=len(HOURS), layout="firehose")
        objects = read_delivered(store)
    return Seeded(request.param, rows[MODEL], objects, read_hive(folder / "hive"))


def test_objects_are_named_and_foldered_as_firehose_delivers_them(seeded: Seeded) -> None:
    assert len(seeded.objects) > 10 * len(HOURS)  # 5-minute buffers: about 12 objects an hour
    for obj in seeded.objects:
        # the folder and the name's time: the arrival of the object's oldest record (Firehose's rule)
        assert obj.folder == obj.opened.replace(minute=0, second=0), obj.key
        assert obj.records, f"{obj.key}: Firehose writes no empty object"
        if seeded.kind == "local":  # S3 stamps the upload time; the local store, the delivery time
            assert obj.modified is not None
            assert obj.opened <= obj.modified <= obj.opened + BUFFER + timedelta(seconds=1), obj.key


def test_each_record_lands_within_its_hours_arrival_folders(seeded: Seeded) -> None:
    """In its own hour's folder, the next one (it arrived after the hour ended), or the previous one (its
    buffer opened, with an older record, in the last minutes of the hour before)."""
    spilled: dict[datetime, int] = defaultdict(int)
    lead = 0
    for obj in seeded.objects:
        for record in obj.records:
            event = event_of(record)
            hour = event.replace(minute=0, second=0, microsecond=0)
            # the record arrived after its event, and the buffer holding it opened at most BUFFER before
            assert obj.opened > event - BUFFER, f"{obj.key} opened too long before {record}"
            assert obj.opened <= event + MAX_LATENESS, f"{obj.key}: {record} arrived too late"
            assert obj.opened + BUFFER <= hour + HOUR + MAX_LATENESS, f"{obj.key}: {record} landed too late"
            spilled[hour] += obj.folder > hour
            lead += obj.folder < hour
    written = [h for h in HOURS if seeded.hive[h]]
    assert all(spilled[h] > 0 for h in written), "every hour with traffic has records in the next folder"
    assert lead > 0, "a buffer that crossed an hour put the next hour's first records in its folder"
    assert HOURS[-1] + HOUR in {o.folder for o in seeded.objects}, "the last hour's spill-over folder"


def test_per_event_hour_the_records_are_exactly_the_hive_layouts(seeded: Seeded) -> None:
    by_hour: dict[datetime, list[dict]] = defaultdict(list)
    for obj in seeded.objects:
        for record in obj.records:
            by_hour[event_of(record).replace(minute=0, second=0, microsecond=0)].append(record)
    assert set(by_hour) == {h for h in HOURS if seeded.hive[h]}  # the empty and missing hours: none
    assert sum(map(len, by_hour.values())) == sum(map(len, seeded.hive.values())) == seeded.rows
    for hour in HOURS:
        hive = sorted(seeded.hive[hour], key=lambda r: r["prediction_id"])
        firehose = sorted(by_hour[hour], key=lambda r: r["prediction_id"])
        for record in firehose:
            record["event_time"] = event_of(record)
        assert len(firehose) == len(hive), hour
        for ours, theirs in zip(firehose, hive, strict=True):
            assert ours == theirs, (hour, ours["prediction_id"])  # floats exact, nulls as None


def test_seeding_is_deterministic_and_rewriting_leaves_no_stale_objects(tmp_path: Path) -> None:
    """The same seed writes the same objects; seeding again an hour later replaces the window's folders
    (an earlier seeding's flushes fell at other times: left there, they would double records)."""
    first, again = LocalObjectStore(tmp_path / "a"), LocalObjectStore(tmp_path / "b")
    for store in (first, again):
        seed_demo({MODEL: store}, end=END, hours=4, layout="firehose")
    assert [(o.key, o.records) for o in read_delivered(first)] == [
        (o.key, o.records) for o in read_delivered(again)
    ]
    later = END + HOUR
    rows = seed_demo({MODEL: first}, end=later, hours=4, seed=8, layout="firehose")
    window = demo_hours(later, 4)
    in_window = [o for o in read_delivered(first) if o.folder >= window[0]]
    assert sum(len(o.records) for o in in_window) == rows[MODEL]


def all_keys(logs: str) -> set[str]:
    store = open_store(logs)
    return {o.key for model in DEMO_MODELS for o in store.list(f"{model}/")}


@pytest.mark.parametrize("layout", DEMO_LAYOUTS)
def test_seed_demo_records_its_layout_for_logs_layout_demo_and_if_empty_does_not_reseed(
    stores: Stores, layout: str, capsys: pytest.CaptureFixture
) -> None:
    """The shipped monitors file (`logs_layout: demo`) reads the layout seeded; before any seeding, hive.
    `--if-empty` finds the logs of either layout, whichever layout it is asked for."""
    logs = f"{stores.root}/predictions"
    before = stores.config(logs=logs)
    assert {m.logs_layout for m in before.models} == {"hive"} and not any(m.event_time for m in before.models)
    seed = ["--config", str(before.path), "seed-demo", "--hours", "3", "--end", f"{END:%Y-%m-%d-%H:%M}"]
    assert main([*seed, "--layout", layout]) == 0
    after = load_config(before.path)
    assert {m.logs_layout for m in after.models} == {layout}
    assert all(m.event_time == (layout == "firehose") for m in after.models)
    assert json.loads((stores.folder / "data" / "demo_window.json").read_text())["layout"] == layout
    keys = all_keys(logs)
    assert keys and all(FIREHOSE_KEY.match(k) for k in keys if k.startswith(f"{MODEL}/")) == (
        layout == "firehose"
    )
    capsys.readouterr()
    for asked in DEMO_LAYOUTS:
        assert main([*seed, "--layout", asked, "--if-empty"]) == 0
        assert "already present" in capsys.readouterr().out
    assert all_keys(logs) == keys
    assert {m.logs_layout for m in load_config(before.path).models} == {layout}


def test_the_window_is_recovered_from_firehose_keys(stores: Stores) -> None:
    """Without the recorded window, `_demo_window` reads it from the keys of each model's layout: the
    firehose folders, less the last one, which holds only the last hour's spill-over."""
    logs = f"{stores.root}/predictions"
    path = stores.config(logs=logs).path
    seed = ["--config", str(path), "seed-demo", "--hours", "3", "--end", f"{END:%Y-%m-%d-%H:%M}"]
    assert main([*seed, "--layout", "firehose"]) == 0
    (stores.folder / "data" / "demo_window.json").unlink()
    assert _demo_window(stores.config(logs=logs)) == []  # `logs_layout: demo` is hive when none is recorded
    assert _demo_window(stores.config(logs=logs, logs_layout="firehose")) == demo_hours(END, 3)
    assert read_demo_window(stores.folder) == (END - 3 * HOUR, END)
    assert demo_layout(stores.folder) == "firehose"


def test_the_shipped_monitors_file_loads_the_firehose_demo_by_event_hour(
    stores: Stores, tmp_path: Path
) -> None:
    """Through the pipeline's own ingest, unchanged config: each demo hour's partition holds exactly the
    ids the hive layout writes for it, read from its arrival folder and the next; nothing late or early."""
    logs = f"{stores.root}/predictions"
    path = stores.config(logs=logs).path
    seed = ["--config", str(path), "seed-demo", "--hours", "3", "--end", f"{END:%Y-%m-%d-%H:%M}"]
    assert main([*seed, "--layout", "firehose"]) == 0
    config = load_config(path)
    hive = LocalObjectStore(tmp_path / "hive")
    seed_demo(dict.fromkeys(DEMO_MODELS, hive), end=END, hours=3)
    warehouse = Warehouse.open(config.warehouse)
    for model in config.models:
        assert model.event_time and model.arrival_folders == 1
        for hour in demo_hours(END, 3):
            result = ingest_hour(model, hour, open_store(logs), warehouse)
            want = pq.read_table(
                tmp_path / "hive" / layout.hour_prefix(model.name, hour), columns=["prediction_id"]
            )
            published = open_store(warehouse.tables_root)
            found = published.head(catalog.prediction_logs.key(model.name, hour))
            assert found is not None, (model.name, hour)
            got = pq.read_table(published.fetch([found])[0], columns=["prediction_id"])
            assert sorted(got["prediction_id"].to_pylist()) == sorted(want["prediction_id"].to_pylist())
            assert result.rows == want.num_rows and (result.late_records, result.early_records) == (0, 0)
            assert len(result.files) > 10, "read from the objects of two arrival folders"
