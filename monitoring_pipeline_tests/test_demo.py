"""The demo data: realistic volumes, deterministic, and every documented incident really in it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from monitoring_pipeline.demo import INCIDENTS, demo_hours
from monitoring_pipeline_tests.conftest import DEMO_END, HOURS, source_rows


def hour_frame(root: Path, model: str, index: int) -> pd.DataFrame:
    hour = HOURS[index]
    folder = root / model / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    return pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))], ignore_index=True)


def test_hours_end_before_the_end_hour() -> None:
    hours = demo_hours(DEMO_END, 96)
    assert len(hours) == 96 and hours[-1] == DEMO_END - pd.Timedelta(hours=1) and hours == sorted(hours)


@pytest.mark.parametrize("model", ["fraud_classifier", "delivery_time_regressor"])
def test_thousands_of_rows_per_hour_with_a_daily_cycle(demo_logs: Path, model: str) -> None:
    counts = [source_rows(demo_logs, model, h) for h in HOURS[:24]]
    present = [c for c in counts if c]
    assert min(present) >= 1000 and max(present) >= 1.5 * min(present)


def test_every_incident_hour_is_inside_the_demo() -> None:
    assert all(0 <= i.first_hour <= i.last_hour < len(HOURS) for i in INCIDENTS)
    kinds = {i.kind for i in INCIDENTS}
    assert kinds >= {
        "gradual drift",
        "sudden shift",
        "new category",
        "null spike",
        "empty hour",
        "missing hour",
    }


def test_empty_and_missing_hours(demo_logs: Path) -> None:
    fraud = demo_logs / "fraud_classifier"
    empty, missing = HOURS[30], HOURS[31]
    assert len(list((fraud / f"dt={empty:%Y-%m-%d}" / f"hour={empty:%H}").glob("*.parquet"))) == 2
    assert source_rows(demo_logs, "fraud_classifier", empty) == 0
    assert not (fraud / f"dt={missing:%Y-%m-%d}" / f"hour={missing:%H}").exists()
    h20 = HOURS[20]
    assert not (demo_logs / "delivery_time_regressor" / f"dt={h20:%Y-%m-%d}" / f"hour={h20:%H}").exists()


def test_null_spike(demo_logs: Path) -> None:
    assert hour_frame(demo_logs, "fraud_classifier", 40)["device_type"].isna().mean() == pytest.approx(
        0.35, abs=0.04
    )
    assert hour_frame(demo_logs, "fraud_classifier", 39)["device_type"].isna().sum() == 0


def test_gradual_drift_of_amount(demo_logs: Path) -> None:
    def median(i: int) -> float:
        return float(hour_frame(demo_logs, "fraud_classifier", i)["amount"].median())

    assert median(47) == pytest.approx(median(10), rel=0.1)
    assert median(72) > 1.2 * median(10) and median(95) > 1.6 * median(10)


def test_new_category(demo_logs: Path) -> None:
    assert "crypto" not in set(hour_frame(demo_logs, "fraud_classifier", 59)["merchant_category"])
    share = (hour_frame(demo_logs, "fraud_classifier", 60)["merchant_category"] == "crypto").mean()
    assert share == pytest.approx(0.10, abs=0.03)


def test_regional_shift(demo_logs: Path) -> None:
    def mean(i: int, german: bool) -> float:
        frame = hour_frame(demo_logs, "fraud_classifier", i)
        return float(frame.loc[(frame["country"] == "DE") == german, "n_transactions_24h"].mean())

    assert mean(34, True) == pytest.approx(4.0, abs=0.3) and mean(33, True) == pytest.approx(3.0, abs=0.3)
    assert mean(34, False) == pytest.approx(3.0, abs=0.15)


def test_values_capped(demo_logs: Path) -> None:
    assert hour_frame(demo_logs, "fraud_classifier", 70)["distance_km"].max() == 50.0
    assert hour_frame(demo_logs, "fraud_classifier", 76)["distance_km"].max() > 100.0


def test_sudden_shift_unit_bug(demo_logs: Path) -> None:
    before = hour_frame(demo_logs, "delivery_time_regressor", 79)
    during = hour_frame(demo_logs, "delivery_time_regressor", 80)
    after = hour_frame(demo_logs, "delivery_time_regressor", 88)
    assert during["distance_km"].median() == pytest.approx(1000 * before["distance_km"].median(), rel=0.15)
    assert after["distance_km"].median() == pytest.approx(before["distance_km"].median(), rel=0.15)
    assert during["predicted_minutes"].median() > 10 * before["predicted_minutes"].median()


def test_prediction_ids_are_unique_and_scores_are_probabilities(demo_logs: Path) -> None:
    frame = hour_frame(demo_logs, "fraud_classifier", 5)
    assert frame["prediction_id"].is_unique
    assert frame["score"].between(0, 1).all()
    assert set(frame["predicted_class"]) <= {"fraud", "legit"}
    assert frame["event_time"].dt.tz is not None


def labels_of_hour(root: Path, model: str, column: str) -> pd.Series:
    """Every label of the model that arrived, by prediction id."""
    files = sorted((root.parent / "labels" / model).rglob("*.parquet"))
    frame = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    return frame.set_index("prediction_id")[column]


def test_multiclass_demo_class_surge(demo_logs: Path) -> None:
    """ticket_router: a few hundred rows an hour, scores that sum to 1, the true class never logged; in
    the class surge (hours 60-65) the resolved share of `account` doubles and the model's recall on it
    falls."""
    labels = labels_of_hour(demo_logs, "ticket_router", "resolved_queue")

    def hour(i: int) -> pd.DataFrame:
        frame = hour_frame(demo_logs, "ticket_router", i)
        return frame.assign(label=frame["prediction_id"].map(labels)).dropna(subset=["label"])

    quiet = pd.concat([hour(i) for i in range(40, 60)])
    surge = pd.concat([hour(i) for i in range(60, 66)])
    assert 200 <= len(hour(5)) <= 700 and "_true_class" not in hour(5).columns
    scores = quiet[["score_billing", "score_technical", "score_account"]].sum(axis=1)
    assert scores.to_numpy() == pytest.approx(1.0, abs=1e-4)
    share = {name: (f["label"] == "account").mean() for name, f in (("quiet", quiet), ("surge", surge))}
    assert share["quiet"] == pytest.approx(0.2, abs=0.03) and share["surge"] == pytest.approx(0.4, abs=0.04)

    def recall(f: pd.DataFrame) -> float:
        account = f[f["label"] == "account"]
        return float((account["predicted_queue"] == "account").mean())

    assert recall(quiet) > 0.55 and recall(surge) < 0.45
