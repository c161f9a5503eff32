"""Each check passing and failing on real data in a real warehouse; failures carry the observed value,
the threshold and the severity."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline import checks
from monitoring_pipeline.config import Column, MonitorsConfig, load_config
from monitoring_pipeline.pipeline.ingest import ingest_hour
from monitoring_pipeline.pipeline.profile_and_drift import HourDrift, profile_hour
from monitoring_pipeline.quality.suite import ExpectationSpec
from monitoring_pipeline.quality.validate import validate
from monitoring_pipeline.stats.drift import evaluate_feature, summarize
from monitoring_pipeline.stats.profiles import numeric_profile
from monitoring_pipeline.storage.object_store import LocalObjectStore
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS, write_config
from monitoring_pipeline_tests.helpers import copy_hour, replace

FRAUD = "fraud_classifier"


@pytest.fixture
def setup(tmp_path: Path, demo_logs: Path) -> tuple[MonitorsConfig, Warehouse, Path]:
    """Hours 1..3 (normal) and 25 (the same hour of day, one day later) loaded and profiled."""
    logs = tmp_path / "logs"
    for i in (1, 2, 3, 25):
        copy_hour(demo_logs, logs, FRAUD, HOURS[i])
    config = load_config(write_config(tmp_path, str(logs)))
    wh = Warehouse.open(config.warehouse)
    for i in (1, 2, 3, 25):
        ingest_hour(config.model(FRAUD), HOURS[i], LocalObjectStore(logs), wh)
        profile_hour(config.model(FRAUD), HOURS[i], wh)
    return config, wh, logs


def rewrite_hour(logs: Path, index: int, change: callable) -> None:
    folder = logs / FRAUD / f"dt={HOURS[index]:%Y-%m-%d}" / f"hour={HOURS[index]:%H}"
    for path in folder.glob("*.parquet"):
        stat = path.stat()
        change(pd.read_parquet(path)).to_parquet(path, index=False)
        os.utime(path, (stat.st_atime, stat.st_mtime))


def test_schema_matches(setup: tuple) -> None:
    config, wh, _ = setup
    model = config.model(FRAUD)
    ok = checks.evaluate(model, "schema_matches", HOURS[1], wh)
    assert ok.passed and ok.observed == 0 and ok.severity == "ERROR"
    newer = replace(
        model, features=(*model.features, Column(name="merchant_risk", kind="numerical"))
    )  # config changed later
    bad = checks.evaluate(newer, "schema_matches", HOURS[1], wh)
    assert not bad.passed and (bad.observed, bad.threshold, bad.severity) == (1, 0, "ERROR")
    assert "missing column 'merchant_risk'" in bad.description
    never = checks.evaluate(model, "schema_matches", HOURS[50], wh)
    assert not never.passed and "not been loaded" in never.description


def test_hour_is_not_empty(setup: tuple) -> None:
    config, wh, logs = setup
    model = config.model(FRAUD)
    ok = checks.evaluate(model, "hour_is_not_empty", HOURS[1], wh)
    assert ok.passed and ok.observed > 1000 and ok.threshold == 1
    ingest_hour(model, HOURS[31], LocalObjectStore(logs), wh)  # no objects at all
    bad = checks.evaluate(model, "hour_is_not_empty", HOURS[31], wh)
    assert not bad.passed and (bad.observed, bad.threshold, bad.severity) == (0, 1, "ERROR")


def test_volume_within_band(setup: tuple) -> None:
    config, wh, logs = setup
    model = config.model(FRAUD)
    ok = checks.evaluate(model, "volume_within_band", HOURS[25], wh)  # vs the same hour a day earlier
    assert ok.passed and ok.observed == pytest.approx(ok.details["rows"] / ok.details["median"])
    rewrite_hour(logs, 25, lambda f: f.iloc[: len(f) // 4])  # a quarter of the traffic
    ingest_hour(model, HOURS[25], LocalObjectStore(logs), wh)
    bad = checks.evaluate(model, "volume_within_band", HOURS[25], wh)
    assert not bad.passed and bad.observed == pytest.approx(0.25, abs=0.01)
    assert (bad.threshold, bad.severity) == (0.5, "WARN")
    first = checks.evaluate(model, "volume_within_band", HOURS[1], wh)
    assert first.passed and "nothing to compare" in first.description


def test_logs_arrived_on_time(setup: tuple) -> None:
    config, _, logs = setup
    model = config.model(FRAUD)
    ok = checks.logs_arrived_on_time(model, HOURS[1])
    assert (
        ok.passed and ok.observed == pytest.approx(7.0) and ok.threshold == 90
    )  # demo files land 3-7 min late
    late = (HOURS[1] + timedelta(hours=4)).timestamp()
    for path in (logs / FRAUD / f"dt={HOURS[1]:%Y-%m-%d}" / f"hour={HOURS[1]:%H}").glob("*"):
        os.utime(path, (late, late))
    bad = checks.evaluate(model, "logs_arrived_on_time", HOURS[1], None)
    assert not bad.passed and bad.observed == pytest.approx(180.0) and bad.severity == "WARN"
    missing = checks.logs_arrived_on_time(model, HOURS[40], now=HOURS[41] + timedelta(hours=2))
    assert not missing.passed and "deadline" in missing.description
    not_yet = checks.logs_arrived_on_time(model, HOURS[40], now=HOURS[41] + timedelta(minutes=10))
    assert not_yet.passed


def test_data_quality_of_a_run_equals_each_hour_alone_in_one_gx_pass(
    setup: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hour 1 has no previous profiles (no derived ranges, no known sets, so fewer columns read): the
    run's verdicts still come from one Great Expectations pass, each equal to the hour's own."""
    from monitoring_pipeline.quality import validate

    config, wh, _ = setup
    model = config.model(FRAUD)
    hours = [HOURS[i] for i in (1, 2, 3, 25)]
    passes: list[int] = []
    real = validate._run
    monkeypatch.setattr(validate, "_run", lambda *a, **k: passes.append(len(a[2])) or real(*a, **k))
    alone = [checks.data_quality(model, h, wh) for h in hours]
    one_by_one = len(passes)
    passes.clear()
    together = checks.data_quality_hours(model, hours, wh)
    assert together == alone
    assert len(passes) == 1 < one_by_one, passes  # one GX validation for the 4 hours
    assert len(alone[0].details["expectations"]) < len(alone[1].details["expectations"])


def test_data_quality_passes_on_a_clean_hour(setup: tuple) -> None:
    config, wh, _ = setup
    outcome = checks.evaluate(config.model(FRAUD), "data_quality_expectations_pass", HOURS[3], wh)
    assert outcome.passed and outcome.observed == 0, outcome.description
    kinds = {e["expectation"] for e in outcome.details["expectations"]}
    assert kinds == {
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToBeUnique",
        "ExpectColumnValuesToBeBetween",
        "ExpectColumnValuesToBeInSet",
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda f: f.assign(device_type=f["device_type"].where(np.arange(len(f)) % 5 != 0)),
            "device_type at most 5% nulls",
        ),
        (lambda f: f.assign(merchant_category="crypto"), "merchant_category in the known set"),
        (lambda f: f.assign(amount=f["amount"] * 1000), "amount within"),
        (lambda f: f.assign(score=f["score"] + 1), "score within [0, 1]"),
        (lambda f: f.assign(prediction_id="same-id"), "prediction_id prediction id unique"),
    ],
)
def test_data_quality_failures_name_column_share_and_threshold(
    setup: tuple, change: callable, expected: str
) -> None:
    config, wh, logs = setup
    model = config.model(FRAUD)
    rewrite_hour(logs, 3, change)
    ingest_hour(model, HOURS[3], LocalObjectStore(logs), wh)
    outcome = checks.evaluate(model, "data_quality_expectations_pass", HOURS[3], wh)
    assert (
        not outcome.passed and outcome.severity == "WARN" and outcome.observed >= 1 and outcome.threshold == 0
    )
    assert expected in outcome.description, outcome.description
    failed = [e for e in outcome.details["expectations"] if not e["success"]]
    assert all(e["unexpected_share"] > 0 and e["sample_values"] for e in failed)
    if "unique" in expected:  # ids are validated as codes; samples are mapped back to the real ids
        assert {v for e in failed for v in e["sample_values"]} == {"same-id"}


def test_an_expectation_that_errors_inside_gx_is_a_failure() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    [result] = validate(
        frame, [ExpectationSpec("ExpectColumnValuesToBeBetween", "missing", {"min_value": 0, "max_value": 1})]
    )
    assert not result.success and 'column "missing"' in result.error and result.observed is None


def drift_of(model, feature_values: dict[str, tuple]) -> HourDrift:
    rng = np.random.default_rng(0)
    results = []
    for c in model.monitored_columns:
        if c.kind != "numerical":
            continue
        ref, cur = feature_values.get(c.name, (rng.normal(0, 1, 5000), rng.normal(0, 1, 2000)))
        role = "prediction" if c in model.predictions else "feature"
        results.append(
            evaluate_feature(c.name, c.kind, numeric_profile(ref), numeric_profile(cur), role=role)
        )
    return HourDrift(HOURS[5], "test window", results, summarize(results))


def test_drift_checks(setup: tuple) -> None:
    config, _, _ = setup
    model = config.model("delivery_time_regressor")
    rng = np.random.default_rng(1)
    calm = {o.check: o for o in checks.drift_checks(model, drift_of(model, {}))}
    assert all(o.passed for o in calm.values()) and set(calm) == {
        "drift_share_below_threshold",
        "distance_km_not_drifted",
        "prediction_not_drifted",
    }
    shifted = (rng.normal(0, 1, 5000), rng.normal(0, 1, 2000) * 1000)
    out = {
        o.check: o
        for o in checks.drift_checks(model, drift_of(model, {"distance_km": shifted, "items": shifted}))
    }
    share = out["drift_share_below_threshold"]  # 2 of 4 numerical features: 0.5 >= error threshold 0.5
    assert not share.passed and (share.observed, share.threshold, share.severity) == (0.5, 0.5, "ERROR")
    critical = out["distance_km_not_drifted"]
    assert (
        not critical.passed
        and critical.severity == "ERROR"
        and critical.observed > critical.threshold == 1.0  # the battery's strength past its floors
        and "beyond the reference's extremes" in critical.description
    )
    out = {
        o.check: o
        for o in checks.drift_checks(model, drift_of(model, {"items": shifted, "predicted_minutes": shifted}))
    }
    warn = out["drift_share_below_threshold"]  # 1 of 4 = 0.25: below warn 0.3
    assert warn.passed and out["distance_km_not_drifted"].passed
    assert not out["prediction_not_drifted"].passed and out["prediction_not_drifted"].severity == "WARN"


def test_each_check_is_declared_once_and_documented() -> None:
    """The registry is the one place a check is named: the Dagster specs, the evaluations and the
    README's table follow it, and every `severities` field it names exists."""
    import re

    from monitoring_pipeline.config import REPO_ROOT, Severities

    names = [d.name.replace("{column}", "<feature>") for d in checks.DECLARED]
    assert len(names) == len(set(names))
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme[readme.index("| check | on | severity | passes when |") :].split("\n\n")[0]
    listed = re.findall(r"^\| `([^`]+)` \| `(\w+)` \|", table, flags=re.M)
    declared = {(d.name.replace("{column}", "<feature>"), d.asset) for d in checks.DECLARED}
    assert set(listed) <= declared and {n for n, _ in listed} | {
        "performance_within_margin",
        "label_coverage_sufficient",
    } == set(names)
    assert all(f"`{n}`" in readme for n in names)
    configurable = {d.severity for d in checks.DECLARED if type(d.severity) is str}  # not a fixed Severity
    assert configurable and configurable <= set(Severities.model_fields)
    assert checks.BLOCKING == ("schema_matches", "hour_is_not_empty")


def test_an_undeclared_or_a_missing_result_is_an_error(tmp_path: Path) -> None:
    model = load_config(write_config(tmp_path, str(tmp_path / "logs"))).model("delivery_time_regressor")
    drift = drift_of(model, {})
    outcomes = checks.drift_checks(model, drift)
    checks.expect_complete(model, "drift_metrics", outcomes)  # complete: no error
    with pytest.raises(ValueError, match=r"none for declared checks \['prediction_not_drifted'\]"):
        checks.expect_complete(model, "drift_metrics", outcomes[:-1])
    renamed = [*outcomes[:-1], replace_outcome(outcomes[-1], check="predictions_not_drifted")]
    with pytest.raises(ValueError, match=r"results for undeclared checks \['predictions_not_drifted'\]"):
        checks.expect_complete(model, "drift_metrics", renamed)


def replace_outcome(outcome: checks.CheckOutcome, **changes: object) -> checks.CheckOutcome:
    import dataclasses

    return dataclasses.replace(outcome, **changes)
