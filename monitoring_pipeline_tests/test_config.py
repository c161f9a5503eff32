"""The monitors file: the shipped one loads; every kind of mistake gets one clear error naming the
file, the model and the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring_pipeline.config import DEFAULT_THRESHOLDS, REPO_ROOT, ConfigError, load_config, parse_hour

BASE: dict[str, Any] = {
    "models": [
        {
            "name": "churn",
            "task": "classification",
            "logs": "logs",
            "timestamp_column": "ts",
            "id_column": "id",
            "features": {"age": "numerical", "plan": {"kind": "categorical", "critical": True}},
            "predictions": {"p": "numerical"},
        }
    ]
}


def write(tmp_path: Path, raw: Any) -> Path:
    path = tmp_path / "monitors.yaml"
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
    return path


def test_shipped_config_loads_with_both_demo_models() -> None:
    config = load_config(REPO_ROOT / "monitors.yaml")
    assert [m.name for m in config.models] == ["fraud_classifier", "delivery_time_regressor"]
    fraud = config.model("fraud_classifier")
    assert fraud.task == "classification"
    assert {c.name: c.kind for c in fraud.features}["merchant_category"] == "categorical"
    assert [c.name for c in fraud.features if c.critical] == ["merchant_category"]
    assert Path(fraud.logs).is_absolute() and fraud.logs.endswith("data/object_store/predictions")
    assert config.warehouse.results.endswith("data/results.sqlite")


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    model = config.models[0]
    assert model.logs == str(tmp_path / "logs")
    assert model.thresholds == DEFAULT_THRESHOLDS
    assert model.reference.type == "trailing" and model.reference.hours == 24
    assert config.warehouse.tables_root == str(tmp_path / "data" / "warehouse")


def test_s3_locations_are_kept_verbatim(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE)
    raw["models"][0]["logs"] = "s3://bucket/predictions/"
    raw["warehouse"] = {"data": "s3://bucket/warehouse"}
    config = load_config(write(tmp_path, raw))
    assert config.models[0].logs == "s3://bucket/predictions"
    assert config.warehouse.tables_root == "s3://bucket/warehouse"


def test_environment_moves_the_results_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_RESULTS", str(tmp_path / "elsewhere.sqlite"))
    config = load_config(write(tmp_path, BASE))
    assert config.warehouse.results == str(tmp_path / "elsewhere.sqlite")
    url = "postgresql://monitor:s3cret@db.internal:5432/monitoring"
    monkeypatch.setenv("MONITORING_RESULTS", url)
    config = load_config(write(tmp_path, BASE))
    assert config.warehouse.results == url  # kept verbatim, never path-resolved
    assert "s3cret" not in repr(config.warehouse)


def test_the_removed_catalog_field_says_what_replaced_it(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE)
    raw["warehouse"] = {"catalog": "data/warehouse.duckdb"}
    with pytest.raises(ConfigError, match=r"warehouse.catalog.*warehouse.results"):
        load_config(write(tmp_path, raw))


def mutate(path: str, value: Any) -> dict[str, Any]:
    """BASE with one field (dotted path inside the first model; '-' deletes it) changed."""
    raw = copy.deepcopy(BASE)
    target = raw["models"][0]
    *parents, last = path.split(".")
    for key in parents:
        target = target[key]
    if value == "-":
        del target[last]
    else:
        target[last] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (mutate("task", "clustering"), "model 'churn': field 'task': expected one of classification"),
        (mutate("logs", "-"), "model 'churn': field 'logs': required"),
        (mutate("timestamp_column", "bad name"), "model 'churn': field 'timestamp_column'"),
        (mutate("features.age", "numeric"), "model 'churn': field 'features.age.kind': expected one of"),
        (mutate("features", {}), "model 'churn': field 'features': expected a non-empty mapping"),
        (mutate("features.plan.critical", "yes"), "field 'features.plan.critical': expected true or false"),
        (mutate("predictions.age", "numerical"), "model 'churn': column 'age' is declared more than once"),
        (
            mutate("partitions_start", "yesterday"),
            "model 'churn': field 'partitions_start': expected an hour",
        ),
        (
            mutate("partitions_start", "2024-01-01T05:30"),
            "field 'partitions_start': must fall on a whole hour",
        ),
        (mutate("reference", {"type": "rolling"}), "field 'reference.type': expected one of trailing"),
        (mutate("reference", {"type": "trailing", "hours": 0}), "model 'churn': field 'reference.hours'"),
        (
            mutate("reference", {"type": "fixed", "start": "2024-01-02", "end": "2024-01-01"}),
            "field 'reference.end': must be after start",
        ),
        (mutate("thresholds", {"drift_share": 0.3}), "field 'thresholds.drift_share': unknown threshold"),
        (
            mutate("thresholds", {"drift_share_warn": "high"}),
            "field 'thresholds.drift_share_warn': expected a non-negative number",
        ),
        (mutate("labels", {"location": "labels"}), "model 'churn': field 'labels.column': required"),
        (
            mutate("labels", {"location": "labels", "column": "y"}),
            "model 'churn': field 'labels.positive_class': required for a classifier",
        ),
        (
            mutate("labels", {"location": "l", "column": "y", "positive_class": 1, "score_column": "nope"}),
            "field 'labels.score_column': 'nope' is not a numerical prediction of the model",
        ),
        (
            mutate("labels", {"location": "l", "column": "y", "positive_class": 1, "min_coverage": 2}),
            "field 'labels.min_coverage': a share between 0 and 1",
        ),
        (
            mutate("labels", {"location": "l", "column": "y", "positive_class": 1, "max_delay_hours": 0}),
            "field 'labels.max_delay_hours': expected a whole number >= 1",
        ),
        (
            mutate("labels", {"location": "l", "column": "y", "positive_class": 1, "delay": 3}),
            "field 'labels': unknown field 'delay'",
        ),
        (mutate("colour", "blue"), "model 'churn': unknown field 'colour'"),
        (
            mutate("owners", ["alice"]),
            "model 'churn': field 'owners': expected a list of emails or team:<name>",
        ),
        (
            {**BASE, "prometheus_textfile": "metrics.txt"},
            "field 'prometheus_textfile': expected a path ending in .prom",
        ),
        (
            mutate("features.age", {"kind": "numerical", "drift_test": "kl"}),
            "field 'features.age.drift_test': unknown drift test 'kl'; "
            "valid tests: auto, chisquare, hellinger",
        ),
        (
            mutate("features.plan", {"kind": "categorical", "drift_test": "wasserstein"}),
            "drift test 'wasserstein' does not apply to categorical features",
        ),
        (
            mutate("features.age", {"kind": "numerical", "drift_threshold": "big"}),
            "drift_threshold': expected a number",
        ),
        (mutate("name", "Churn Model"), "model 'Churn Model': field 'name': must match"),
        ({"models": []}, "field 'models': expected a non-empty list"),
        ({"models": [BASE["models"][0], BASE["models"][0]]}, "model 'churn': declared more than once"),
        ("models: [unclosed", "not valid YAML"),
        ("- just a list", "top level: expected a mapping"),
    ],
)
def test_bad_config_names_file_model_and_field(tmp_path: Path, raw: Any, expected: str) -> None:
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    raw = mutate("task", "clustering")
    raw["models"][0]["features"]["age"] = "numeric"
    with pytest.raises(ConfigError, match="2 problem") as info:
        load_config(write(tmp_path, raw))
    assert "field 'task'" in str(info.value) and "age.kind" in str(info.value)


def test_missing_file_names_the_path_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found.*MONITORING_CONFIG"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "text", ["2024-03-01-05:00", "2024-03-01T05:00:00", "2024-03-01T06:00:00+01:00", "2024-03-01 05:00Z"]
)
def test_parse_hour_returns_utc(text: str) -> None:
    hour = parse_hour(text)
    assert (hour.year, hour.month, hour.day, hour.hour, hour.utcoffset().total_seconds()) == (
        2024,
        3,
        1,
        5,
        0,
    )
