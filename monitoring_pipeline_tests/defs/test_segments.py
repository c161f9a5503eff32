"""Segment drift through the whole hourly pipeline, on the local store and on S3: a shift confined to one
country holding 10 % of traffic alarms for that segment only, in its hours only, while the whole
population stays quiet, and no unchanged segment alarms (the smallest hold ~150 rows an hour)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from monitoring_pipeline.config import REPO_ROOT, ReferenceWindow
from monitoring_pipeline.demo import fraud_hour, write_hour
from monitoring_pipeline.pipeline.ingest import ingest_hour
from monitoring_pipeline.pipeline.profile_and_drift import profile_hour
from monitoring_pipeline.pipeline.segments import load_segment_profiles, static_segment_reference
from monitoring_pipeline.publish.prometheus import collect
from monitoring_pipeline.publish.reports import report_key
from monitoring_pipeline.storage.catalog import STATIC_HOUR, segment_profiles, segment_reference_profiles
from monitoring_pipeline.storage.object_store import fetch_file, open_store
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS, demo_index
from monitoring_pipeline_tests.helpers import query, run_pipeline
from monitoring_pipeline_tests.stores import Stores

pytestmark = pytest.mark.heavy(120)

MODEL = "fraud_classifier"
DELIVERY = "delivery_time_regressor"
SHIFTED = range(26, 30)  # hour indices whose French transactions are 1.6x larger (log-mean +0.47 sd)


def write_logs(location: str) -> None:
    """30 incident-free demo hours (index -1: no documented incident), France's amounts shifted in SHIFTED."""
    rng = np.random.default_rng(11)
    store = open_store(location)
    for index, hour in enumerate(HOURS[:30]):
        frame = fraud_hour(-1, hour, rng)
        if index in SHIFTED:
            french = frame["country"].to_numpy() == "FR"
            frame.loc[french, "amount"] = (frame.loc[french, "amount"] * 1.6).round(2)
        write_hour(store, MODEL, hour, frame)


def test_a_shift_in_one_segment_alarms_for_it_alone(stores: Stores) -> None:
    logs = f"{stores.root}/logs"
    write_logs(logs)
    raw = yaml.safe_load((REPO_ROOT / "monitors.yaml").read_text())
    fraud = next(m for m in raw["models"] if m["name"] == MODEL)
    fraud = {**fraud, "segments": ["country", "device_type"]}
    config = stores.config(logs, top={"models": [fraud]}, labels="")
    assert run_pipeline(config, MODEL, HOURS[0], HOURS[29]).success

    drifted = query(
        config, "SELECT partition_hour, segment, feature FROM main.segment_drift_metrics WHERE drifted"
    )
    by_segment: dict[str, set[int]] = {}
    features = set()
    for hour, segment, feature in drifted:
        by_segment.setdefault(segment, set()).add(demo_index(hour))
        features.add(feature)
    assert by_segment == {"country=FR": set(SHIFTED)}, by_segment
    assert "amount" in features and features <= {"amount", "score"}  # the score follows the amount
    whole = query(config, "SELECT partition_hour, feature FROM main.drift_metrics WHERE drifted")
    assert whole == []  # 10 % of rows moved by half a standard deviation: below every floor overall

    judged = query(
        config,
        "SELECT segment, rows FROM main.segment_drift_summary WHERE judged AND partition_hour >= ?",
        [HOURS[1]],
    )
    notes = query(config, "SELECT DISTINCT note FROM main.segment_drift_summary WHERE NOT judged")
    assert notes and all("rows in the hour" in note for (note,) in notes), notes  # why, said
    small = {segment for segment, rows in judged if rows < 200}
    assert "country=IN" in small  # judged in its quiet hours (100-200 rows), and never alarmed
    assert len({segment for segment, _ in judged}) == 9  # 6 countries, 3 device types: all judged

    checks = query(
        config,
        "SELECT partition_hour, passed, severity, details FROM main.check_results "
        "WHERE check_name = 'segments_not_drifted'",
    )
    assert len(checks) == 30
    failed = {demo_index(hour) for hour, passed, _, _ in checks if not passed}
    assert failed == set(SHIFTED)
    assert {severity for _, passed, severity, _ in checks if not passed} == {"WARN"}
    assert all('"country=FR"' in details for _, passed, _, details in checks if not passed)

    wh = Warehouse.open(config.warehouse)  # the report names the segment; Prometheus counts it
    page = stores.read(config.warehouse.tables_root, report_key(MODEL, HOURS[29])).decode()
    worst = page[page.index("Segments: the worst") :]
    assert re.search(r"1 of [89] judged segments drifted \(9 segments", worst)  # IN: judged when >= 100 rows
    assert "country=FR" in worst.split("</table>")[0]
    samples = {(s.name, s.labels.get("model")): s.value for s in collect(config, wh)}
    assert samples[("segments_drifted", MODEL)] == 1 and samples[("segments_judged", MODEL)] >= 8


def test_static_segment_references_are_built_once_and_rebuilt_on_change(stores: Stores) -> None:
    """A training file's segments (their rows against pandas' count of the file), stored once and reused;
    rebuilt when the segment config changes. A fixed window's: the merge of its hours' segments, rebuilt
    when more of its hours are profiled."""
    raw = yaml.safe_load((REPO_ROOT / "monitors.yaml").read_text())
    delivery = {**next(m for m in raw["models"] if m["name"] == DELIVERY), "segments": ["weather", "region"]}
    config = stores.config(top={"models": [delivery]}, labels="")
    model = config.model(DELIVERY)
    wh = Warehouse.open(config.warehouse)
    logs = open_store(model.logs)
    for hour in HOURS[:3]:
        ingest_hour(model, hour, logs, wh)
        profile_hour(model, hour, wh)

    def version() -> object:
        found = wh.store.head(segment_reference_profiles.key(DELIVERY, STATIC_HOUR))
        assert found is not None
        return (found.etag, found.modified, found.size)

    built = static_segment_reference(model, wh)
    training = pd.read_parquet(fetch_file(model.reference.path))
    for column in ("weather", "region"):
        for value, n in training[column].value_counts().items():
            assert max(p.rows for p in built[f"{column}={value}"].values()) == n
    first = version()
    again = static_segment_reference(model, wh)
    assert version() == first and list(again) == list(built)  # read back, not rebuilt
    fewer = model.model_copy(update={"segment_top_k": 2})
    assert "weather=__other__" in static_segment_reference(fewer, wh)
    assert version() != first

    window = {"type": "fixed", "start": HOURS[0], "end": HOURS[3]}
    fixed = model.model_copy(update={"reference": ReferenceWindow(**window)})
    two = static_segment_reference(fixed, wh)  # every hour profiled: all three merged
    hourly = load_segment_profiles(wh, segment_profiles, DELIVERY, HOURS[:3])
    for segment, by_column in two.items():
        assert by_column["items"].rows == sum(
            h[segment]["items"].rows for h in hourly.values() if segment in h
        )
    wh.store.delete(segment_profiles.key(DELIVERY, HOURS[2]))
    partial = static_segment_reference(fixed, wh)  # the window's profiles changed: rebuilt from two hours
    assert sum(p["items"].rows for p in partial.values()) < sum(p["items"].rows for p in two.values())
