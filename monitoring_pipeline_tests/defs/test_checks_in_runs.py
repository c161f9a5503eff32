"""Checks inside real runs, on the local store and on S3: a blocking failure stops downstream for its
hour, a multi-hour run keeps the other hours, and check_results holds one row per check and hour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline_tests.conftest import HOURS
from monitoring_pipeline_tests.helpers import key, query, run_pipeline
from monitoring_pipeline_tests.stores import Stores

FRAUD = "fraud_classifier"
PREDICTION_LOG_CHECKS = {
    "schema_matches",
    "hour_is_not_empty",
    "volume_within_band",
    "logs_arrived_on_time",
    "timestamps_within_hour",
    "data_quality_expectations_pass",
}


@pytest.fixture
def config(stores: Stores) -> MonitorsConfig:
    return stores.config()


def evaluations(result: dg.ExecuteInProcessResult, check: str) -> dict[str, dg.AssetCheckEvaluation]:
    """A check's evaluations in the run, by partition: Dagster gets one per hour."""
    found = [e for e in result.get_asset_check_evaluations() if e.check_name == check]
    by_partition = {e.partition: e for e in found}
    assert len(by_partition) == len(found), "two evaluations of one hour"
    return by_partition


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    events = result.get_asset_materialization_events()
    return {e.event_specific_data.materialization.asset_key.path[-1] for e in events}


def test_blocking_failure_stops_downstream_for_a_single_hour(config: MonitorsConfig) -> None:
    result = run_pipeline(config, FRAUD, HOURS[30], HOURS[30])  # the demo's empty hour
    assert not result.success
    [check] = evaluations(result, "hour_is_not_empty").values()
    assert check.partition == key(HOURS[30]) and check.blocking
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["observed"].value == 0 and check.metadata["threshold"].value == 1
    assert materialized(result) == {"prediction_logs"}  # no profile, reference or drift of garbage
    assert query(
        config, "SELECT check_name, passed FROM main.check_results WHERE check_name = 'hour_is_not_empty'"
    ) == [("hour_is_not_empty", False)]


def test_multi_hour_run_skips_only_the_failed_hours(config: MonitorsConfig) -> None:
    result = run_pipeline(config, FRAUD, HOURS[28], HOURS[33])  # 30 is empty, 31 is missing
    assert result.success
    hours = evaluations(result, "hour_is_not_empty")
    assert sorted(hours) == [key(HOURS[i]) for i in range(28, 34)]  # one per hour, against its partition
    assert sorted(p for p, e in hours.items() if not e.passed) == [key(HOURS[30]), key(HOURS[31])]
    failed = hours[key(HOURS[30])]
    assert failed.severity == dg.AssetCheckSeverity.ERROR and failed.metadata["observed"].value == 0
    assert not failed.blocking  # partial: the run goes on, and downstream skips exactly those hours
    for check in ("drift_share_below_threshold", "performance_within_margin"):  # checks of later assets
        assert sorted(evaluations(result, check)) == [key(HOURS[i]) for i in (28, 29, 32, 33)]
    targets = {e.partition: e.target_materialization_data for e in result.get_asset_check_evaluations()}
    assert all(t is not None and t.run_id == result.run_id for t in targets.values())  # current status
    profiled = {h for (h,) in query(config, "SELECT DISTINCT partition_hour FROM main.feature_profiles")}
    assert profiled == {HOURS[i] for i in (28, 29, 32, 33)}
    drifted = {h for (h,) in query(config, "SELECT DISTINCT partition_hour FROM main.drift_metrics")}
    assert drifted == profiled


def test_one_check_results_row_per_check_per_hour(config: MonitorsConfig) -> None:
    run_pipeline(config, FRAUD, HOURS[2], HOURS[7])
    rows = query(
        config,
        "SELECT asset, check_name, count(*), count(DISTINCT partition_hour) FROM main.check_results "
        "GROUP BY ALL ORDER BY ALL",
    )
    by_check = {(asset, name): (n, hours) for asset, name, n, hours in rows}
    expected = (
        {("prediction_logs", c) for c in PREDICTION_LOG_CHECKS}
        | {
            ("drift_metrics", c)
            for c in (
                "drift_share_below_threshold",
                "merchant_category_not_drifted",
                "prediction_not_drifted",
                "segments_not_drifted",  # the demo's fraud model has segments
            )
        }
        | {("model_performance", c) for c in ("performance_within_margin", "label_coverage_sufficient")}
        | {("multivariate_drift", "multivariate_drift_within_band")}
    )
    assert set(by_check) == expected
    assert all(v == (6, 6) for v in by_check.values()), by_check
    run_pipeline(config, FRAUD, HOURS[2], HOURS[7])  # a second evaluation: history grows, latest replaced
    per_hour = (
        "SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM main.{} "
        "GROUP BY model, check_name, partition_hour)"
    )
    assert query(config, per_hour.format("check_history")) == [(2, 2)]
    assert query(config, per_hour.format("check_results")) == [(1, 1)]
    [(stale,)] = query(  # the latest row is the second run's evaluation
        config,
        "SELECT count(*) FROM main.check_results r WHERE evaluated_at < (SELECT max(evaluated_at) "
        "FROM main.check_history h WHERE h.model = r.model AND h.check_name = r.check_name "
        "AND h.partition_hour = r.partition_hour)",
    )
    assert stale == 0


def test_definitions_load_without_importing_great_expectations(tmp_path: Path) -> None:
    code = "import sys, monitoring_pipeline.definitions; print('great_expectations' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"
