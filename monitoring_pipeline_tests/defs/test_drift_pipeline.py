"""The whole hourly pipeline materialized in process over the demo's 96 hours, on the local store (and
on S3: test_drift_pipeline_s3.py): the documented incidents are detected in the right hours and
features, and nothing else is flagged."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.pipeline.profiling import profile_relation
from monitoring_pipeline.pipeline.references import load_profiles
from monitoring_pipeline.stats.profiles import merge_profiles
from monitoring_pipeline.storage import duck
from monitoring_pipeline.storage.catalog import feature_profiles, prediction_logs
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS, demo_index, open_stores
from monitoring_pipeline_tests.helpers import query, run_pipeline

pytestmark = pytest.mark.heavy(220)

FRAUD, DELIVERY = "fraud_classifier", "delivery_time_regressor"


def demo_pipeline(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MonitorsConfig]:
    """Both demo models' whole pipeline over the demo's 96 hours, on one store."""
    folder = tmp_path_factory.mktemp("demo_run")
    with pytest.MonkeyPatch.context() as env:
        config = open_stores(kind, request, folder, env).config()
        for model in (FRAUD, DELIVERY):
            run_pipeline(config, model, HOURS[0], HOURS[-1])
        yield config


@pytest.fixture(scope="module")
def demo_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MonitorsConfig]:
    """On the local store; test_drift_pipeline_s3.py runs the same tests on S3, in a module of its own so
    that `--dist loadscope` gives it a worker of its own (each store's run takes minutes)."""
    yield from demo_pipeline("local", request, tmp_path_factory)


def flagged(config: MonitorsConfig, model: str) -> dict[str, set[int]]:
    """Feature -> demo hour indices in which it was flagged as drifted."""
    rows = query(
        config, "SELECT feature, partition_hour FROM main.drift_metrics WHERE model = ? AND drifted", [model]
    )
    out: dict[str, set[int]] = {}
    for feature, hour in rows:
        out.setdefault(feature, set()).add(demo_index(hour))
    return out


def test_sudden_shift_is_detected_exactly_in_its_hours(demo_run: MonitorsConfig) -> None:
    """The delivery model's reference is a training file: the unit bug alarms for hours 80-87 only."""
    got = flagged(demo_run, DELIVERY)
    assert got.pop("distance_km") == set(range(80, 88))
    assert got.pop("predicted_minutes") == set(range(80, 88))  # prediction drift, its own figure
    assert got == {}  # no unchanged feature is ever flagged


def test_fraud_incidents_are_detected_and_unchanged_features_are_quiet(demo_run: MonitorsConfig) -> None:
    got = flagged(demo_run, FRAUD)
    assert got.pop("distance_km") == set(range(70, 76))  # values capped at 50 km
    new_category = got.pop("merchant_category")
    assert set(range(60, 66)) <= new_category <= set(range(60, 72))  # until the 24h reference absorbs it
    amount = got.pop("amount")  # gradual drift from hour 48: flagged once it is large enough
    # against a trailing reference that follows it (a steady 0.15 sd lag from hour 72), see the README
    assert min(amount) >= 50 and len(amount & set(range(60, 96))) >= 30, sorted(amount)
    got.pop("score", None)  # the model's score follows amount: prediction drift is allowed here
    assert got == {}, got


def test_the_regional_shift_is_seen_in_its_segment_alone(demo_run: MonitorsConfig) -> None:
    """Germany's extra transaction (hours 34-39) is invisible overall (test above: no other feature
    drifted) and flagged for country=DE alone; before the gradual drift (hour 48) no other segment is."""
    rows = query(
        demo_run,
        "SELECT segment, feature, partition_hour FROM main.segment_drift_metrics "
        "WHERE model = ? AND drifted AND partition_hour < ?",
        [FRAUD, HOURS[48]],
    )
    got = {(segment, feature) for segment, feature, _ in rows}
    assert got == {("country=DE", "n_transactions_24h")}
    flagged = {demo_index(h) for _, _, h in rows}
    # its hours, and the recovery while they are still in the 24-hour trailing reference
    assert set(range(34, 40)) <= flagged <= set(range(34, 48))


def test_drift_summary_and_blocked_hours(demo_run: MonitorsConfig) -> None:
    rows = dict(
        query(demo_run, "SELECT partition_hour, drift_share FROM main.drift_summary WHERE model = ?", [FRAUD])
    )
    assert len(rows) == 94  # the empty and the missing hour failed the blocking emptiness check: skipped
    assert HOURS[30] not in rows and HOURS[31] not in rows
    assert rows[HOURS[72]] == pytest.approx(2 / 7)  # amount and distance_km of 7 features
    first = query(
        demo_run,
        "SELECT DISTINCT status, reference_rows FROM main.drift_metrics "
        "WHERE model = ? AND partition_hour = ?",
        [FRAUD, HOURS[0]],
    )
    assert first == [("insufficient_data", 0)]  # no hours before the first one: no reference yet
    assert rows[HOURS[0]] is None


def test_reference_window_is_recorded(demo_run: MonitorsConfig) -> None:
    [(window,)] = query(
        demo_run,
        "SELECT DISTINCT reference_window FROM main.drift_metrics WHERE model = ? AND partition_hour = ?",
        [FRAUD, HOURS[70]],
    )
    assert window.startswith("trailing 24h [") and "24/24 hours profiled" in window
    [(window,)] = query(
        demo_run,
        "SELECT DISTINCT reference_window FROM main.drift_metrics WHERE model = ? AND partition_hour = ?",
        [FRAUD, HOURS[50]],
    )
    assert "22/24 hours profiled" in window  # the empty and the missing hour have no profile
    [(window,)] = query(
        demo_run, "SELECT DISTINCT reference_window FROM main.drift_metrics WHERE model = ?", [DELIVERY]
    )
    assert window.startswith("file ") and "delivery_time_regressor_training.parquet" in window


def test_merged_hours_equal_the_day_profiled_at_once(demo_run: MonitorsConfig) -> None:
    """Exact for counts, nulls, min, max, histograms and categories; mean/std to 1e-9; quantiles are
    equal too, since both come from the same (identical) histogram."""
    wh = Warehouse.open(demo_run.warehouse)
    model = demo_run.model(FRAUD)
    day = HOURS[24:48]
    hourly = load_profiles(wh, feature_profiles, FRAUD, day)
    logs = wh.fetch_hours(prediction_logs, FRAUD, day)  # local copies (downloaded on S3)
    files = [f for f in logs.values() if pq.read_metadata(f).num_rows]
    with duck.connect() as conn:
        whole = profile_relation(conn, conn.read_parquet([str(f) for f in files]), model.monitored_columns)
    for column in model.monitored_columns:
        merged = merge_profiles(h[column.name] for h in hourly.values())
        w = whole[column.name]
        assert (merged.rows, merged.nulls, merged.count) == (w.rows, w.nulls, w.count), column.name
        if column.kind == "numerical":
            assert (merged.sketch.keys.tolist(), merged.sketch.counts.tolist()) == (
                w.sketch.keys.tolist(),
                w.sketch.counts.tolist(),
            )
            assert (merged.min, merged.max) == (w.min, w.max)
            assert merged.mean == pytest.approx(w.mean, rel=1e-12) and merged.std == pytest.approx(
                w.std, rel=1e-9
            )
            assert merged.quantiles() == pytest.approx(w.quantiles(), rel=1e-9)
        else:
            assert dict(merged.counts) == dict(w.counts)


def failed_checks(config: MonitorsConfig, model: str) -> dict[str, set[int]]:
    rows = query(
        config,
        "SELECT check_name, partition_hour FROM main.check_results WHERE model = ? AND NOT passed",
        [model],
    )
    out: dict[str, set[int]] = {}
    for check, hour in rows:
        out.setdefault(check, set()).add(demo_index(hour))
    return out


def test_demo_quality_incidents_fail_the_right_checks_in_the_right_hours(demo_run: MonitorsConfig) -> None:
    """Null spike, empty hour, missing hour and new category each fail their check in their hours; the
    concept drift and the unit bug fail the performance check in exactly their hours; every other hour
    passes every check."""
    fraud = failed_checks(demo_run, FRAUD)
    assert fraud.pop("hour_is_not_empty") == {30, 31}  # empty hour, missing hour
    assert fraud.pop("volume_within_band") == {30, 31}
    if demo_run.warehouse.tables_root.startswith("s3://"):  # S3 dates an object by its upload: the demo's
        assert fraud.pop("logs_arrived_on_time") == set(range(96))  # objects landed days after their hour
    else:  # the demo dates its files by when they would have landed
        assert fraud.pop("logs_arrived_on_time") == {31}  # the empty hour's files did land, on time
    assert fraud.pop("data_quality_expectations_pass") == {40, 41, 60}  # null spike; the new category appears
    assert fraud.pop("merchant_category_not_drifted") == set(range(60, 68))
    # the new category (unseen by the reference: frequency 0) breaks the rows' structure when it appears,
    # until the trailing reference takes it in; the marginal shifts alone (capped distance, the slow
    # amount drift) stay within the band
    multivariate = fraud.pop("multivariate_drift_within_band")
    assert 60 in multivariate and multivariate <= set(range(60, 68)), sorted(multivariate)
    assert fraud.pop("prediction_not_drifted", set()) <= set(
        range(48, 96)
    )  # the score follows the amount drift
    # the concept drift (account takeovers) and nothing else; the inputs did not drift there
    assert fraud.pop("performance_within_margin") == set(range(76, 84))
    # hours whose labels were still due when the demo ended (median delay ~11 h) once their deadline passed
    assert fraud.pop("label_coverage_sufficient", set()) <= set(range(72, 96))
    # the regional shift (and the recovery while the 24-hour reference holds it: hours 40-47), then the
    # input incidents every segment shares, from the gradual drift on (hour 48); never before hour 34
    assert set(range(34, 40)) <= fraud.pop("segments_not_drifted") <= set(range(34, 96))
    assert fraud == {}, fraud
    delivery = failed_checks(demo_run, DELIVERY)
    assert delivery.pop("hour_is_not_empty") == {20}
    late = set(range(96)) if demo_run.warehouse.tables_root.startswith("s3://") else {20}
    assert delivery.pop("logs_arrived_on_time") == late
    assert delivery.pop("distance_km_not_drifted") == set(range(80, 88))
    assert delivery.pop("prediction_not_drifted") == set(range(80, 88))
    assert delivery.pop("multivariate_drift_within_band") == set(range(80, 88))  # the unit bug's hours
    assert delivery.pop("data_quality_expectations_pass") == {
        80
    }  # out of the recent range when the bug starts
    assert delivery.pop("performance_within_margin") == set(range(80, 88))  # the unit bug: MAE x4000
    assert delivery.pop("label_coverage_sufficient", set()) <= {94, 95}  # deliveries still on their way
    assert delivery == {}, delivery
