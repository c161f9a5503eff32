"""A fixed reference window on the local store and on S3: its reference is built once from its hours, and
the new category alarms for as long as it lasts."""

from __future__ import annotations

import dagster as dg
import pytest

from monitoring_pipeline_tests.conftest import HOURS
from monitoring_pipeline_tests.defs.test_drift_pipeline import FRAUD, flagged
from monitoring_pipeline_tests.helpers import build_reference, query, run_pipeline
from monitoring_pipeline_tests.stores import Stores

pytestmark = pytest.mark.heavy(140)


def test_fixed_reference_window(stores: Stores) -> None:
    """A fixed window (the demo's first day) as reference: the new category alarms for as long as it
    lasts (checked at its start, around the capped hours and at the demo's end), since the reference
    never absorbs it; a trailing 24h reference has absorbed it by hour 72 (test_drift_pipeline.py)."""
    fixed = {
        "type": "fixed",
        "start": HOURS[0].strftime("%Y-%m-%d-%H:00"),
        "end": HOURS[24].strftime("%Y-%m-%d-%H:00"),
    }
    config = stores.config(reference=fixed)
    instance = dg.DagsterInstance.ephemeral()
    build_reference(config, FRAUD, instance, HOURS[0], HOURS[23])
    windows = [(58, 61), (69, 76), (92, 95)]
    for first, last in windows:
        assert run_pipeline(config, FRAUD, HOURS[first], HOURS[last], instance).success
    ran = {i for first, last in windows for i in range(first, last + 1)}
    got = flagged(config, FRAUD)
    assert got["merchant_category"] == {i for i in ran if i >= 60}
    assert got["distance_km"] == set(range(70, 76))
    [(window,)] = query(config, "SELECT DISTINCT reference_window FROM main.drift_metrics")
    assert window.startswith("fixed [") and "24/24 hours profiled" in window
