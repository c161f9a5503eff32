"""The monitors file: the shipped one loads; every kind of mistake gets one clear error naming the
file, the model and the field."""

from __future__ import annotations

import copy
import time
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring_pipeline.config import (
    REPO_ROOT,
    ConfigError,
    Thresholds,
    load_config,
    parse_hour,
    reference_table,
)

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


def test_shipped_config_loads_with_the_demo_models() -> None:
    config = load_config(REPO_ROOT / "monitors.yaml")
    assert [m.name for m in config.models] == ["fraud_classifier", "delivery_time_regressor", "ticket_router"]
    tickets = config.model("ticket_router").labels
    assert tickets is not None and tickets.classes == ("billing", "technical", "account")
    assert tickets.class_column == "predicted_queue"  # the only categorical prediction
    assert tickets.score_columns == {c: f"score_{c}" for c in tickets.classes}  # score_<class>, all declared
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
    assert model.thresholds == Thresholds()
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
        (mutate("features", {}), "model 'churn': field 'features': expected at least one entry"),
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
        (
            mutate("thresholds", {"drift_share": 0.3}),
            "field 'thresholds': unknown field 'drift_share' (allowed: drift_alpha, ",
        ),
        (
            mutate("thresholds", {"drift_share_warn": "high"}),
            "field 'thresholds.drift_share_warn': expected a number; got 'high'",
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
            "field 'labels.min_coverage': expected a number <= 1; got 2",
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
            "model 'churn': field 'owners[0]': expected an email or team:<name>; got 'alice'",
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
        ({"models": []}, "field 'models': expected at least one entry"),
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


def problems_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_duplicate_keys_are_refused_not_silently_merged(tmp_path: Path) -> None:
    text = yaml.safe_dump(BASE) + "models: []\n"  # a second `models:` would drop the first list
    message = problems_of(tmp_path, text)
    assert "duplicate key 'models' (first at line 1); the second would silently replace the first" in message
    twice = yaml.safe_dump(BASE).replace("    age: numerical", "    age: numerical\n    age: categorical")
    assert "duplicate key 'age'" in problems_of(tmp_path, twice)


def test_an_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path: Path) -> None:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )  # 9^9 = 387M strings once expanded
    assert len(bomb) < 400
    started = time.perf_counter()
    message = problems_of(tmp_path, bomb)
    assert time.perf_counter() - started < 2.0
    assert "expands to more than 100000 nodes" in message and len(message) < 1000


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "features.age",
            {"kind": "numerical", "drift_threshold": float("nan")},
            "expected a finite number; got nan",
        ),
        (
            "thresholds",
            {"drift_alpha": float("nan")},
            "field 'thresholds.drift_alpha': expected a finite number",
        ),
        (
            "thresholds",
            {"volume_band": float("inf")},
            "field 'thresholds.volume_band': expected a finite number",
        ),
        (
            "thresholds",
            {"drift_alpha": 1.5},
            "field 'thresholds.drift_alpha': expected a number < 1; got 1.5",
        ),
        (
            "thresholds",
            {"max_null_share": True},
            "field 'thresholds.max_null_share': expected a number; got True",
        ),
        ("max_hours_per_run", 2.5, "field 'max_hours_per_run': expected a whole number; got 2.5"),
    ],
)
def test_numbers_are_finite_bounded_and_typed(tmp_path: Path, path: str, value: Any, expected: str) -> None:
    assert expected in problems_of(tmp_path, yaml.safe_dump(mutate(path, value)))


def test_reserved_and_case_colliding_column_names(tmp_path: Path) -> None:
    raw = mutate("features.partition_hour", "numerical")
    raw["models"][0]["features"]["Age"] = "numerical"
    message = problems_of(tmp_path, yaml.safe_dump(raw))
    assert (
        "model 'churn': field 'features.partition_hour': 'partition_hour' is reserved: the warehouse adds "
        "that column to every row"
    ) in message
    assert (
        "field 'features.age': 'age' and 'Age' differ only in case" in message
    )  # safe_dump sorts: Age first
    assert "2 problem(s)" in message


def test_a_binary_file_or_a_directory_is_named(tmp_path: Path) -> None:
    binary = tmp_path / "monitors.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(ConfigError, match=r"monitors.yaml: not a text file \(not UTF-8 at byte 0\)"):
        load_config(binary)
    with pytest.raises(ConfigError, match=rf"{tmp_path}: is a directory; expected a YAML file"):
        load_config(tmp_path)


def test_values_are_shown_short_and_every_problem_at_once(tmp_path: Path) -> None:
    raw = mutate("task", "x" * 5000)
    raw["models"][0]["colour"] = "blue"
    raw["models"][0]["features"]["age"] = {"kind": "numerical", "range": [5, 1]}
    message = problems_of(tmp_path, yaml.safe_dump(raw))
    assert "3 problem(s)" in message and len(message) < 1200, message
    assert "... (5002 chars)" in message
    assert "model 'churn': unknown field 'colour' (allowed: alerts, features, id_column," in message
    assert "field 'features.age.range': [min, max] with min <= max; got [5.0, 1.0]" in message


def test_sinks_are_typed_and_a_secret_is_never_echoed(tmp_path: Path) -> None:
    secret = "https://hooks.slack.example/services/T000/B000/XXXXSECRET"
    raw = copy.deepcopy(BASE)
    raw["alerting"] = {
        "sinks": {
            "chat": {"type": "webhook", "url_env": secret},
            "pager": {"type": "sms"},
            "mail": {"type": "email"},
            "hook": secret,  # the URL itself instead of a sink's settings
            "other": {"type": "webhook", "url_env": "OTHER_URL", "timeout_seconds": secret},
        }
    }
    message = problems_of(tmp_path, yaml.safe_dump(raw))
    assert "XXXXSECRET" not in message
    assert "field 'alerting.sinks.chat.url_env': must be the NAME of an environment variable" in message
    assert "field 'alerting.sinks.pager': expected a mapping with type: webhook or type: email" in message
    assert "field 'alerting.sinks.mail.host': required" in message
    assert "field 'alerting.sinks.hook': expected a mapping; got a str" in message
    assert "field 'alerting.sinks.other.timeout_seconds': expected a number; got a str" in message
    raw["alerting"] = {"sinks": {"chat": {"type": "webhook", "url_env": "CHAT_URL"}}}
    raw["models"][0]["alerts"] = [{"sink": "chat"}, {"sink": "nowhere", "min_severity": "error"}]
    message = problems_of(tmp_path, yaml.safe_dump(raw))
    assert "model 'churn': field 'alerts[1].sink': unknown sink 'nowhere' (alerting.sinks: chat)" in message
    raw["models"][0]["alerts"].pop()
    assert load_config(write(tmp_path, raw)).models[0].alerts[0].min_severity == "WARN"


def test_every_sink_type_has_a_sender() -> None:
    from monitoring_pipeline.alerts.sinks import SENDERS
    from monitoring_pipeline.config import SINK_TYPES, SinkConfig

    union = typing.get_args(typing.get_args(SinkConfig)[0])
    tags = tuple(typing.get_args(member.model_fields["type"].annotation)[0] for member in union)
    assert tags == SINK_TYPES and tuple(SENDERS) == SINK_TYPES


def test_range_and_values_are_read(tmp_path: Path) -> None:
    raw = mutate("features.age", {"kind": "numerical", "range": [0, 120]})
    raw["models"][0]["features"]["plan"] = {"kind": "categorical", "values": ["free", "pro", 3]}
    model = load_config(write(tmp_path, raw)).models[0]
    columns = {c.name: c for c in model.features}
    assert columns["age"].range == (0.0, 120.0) and columns["plan"].values == ("free", "pro", "3")
    wrong = mutate("features.plan", {"kind": "categorical", "range": [0, 1]})
    assert "field 'features.plan.range': for numerical columns only" in problems_of(
        tmp_path, yaml.safe_dump(wrong)
    )


def test_the_readme_table_is_generated_from_the_models() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    start, end = "<!-- config-table: start -->\n", "<!-- config-table: end -->"
    assert start in readme and end in readme
    table = readme[readme.index(start) + len(start) : readme.index(end)]
    assert table == reference_table(), "regenerate it: .venv/bin/python -m monitoring_pipeline.config"


def test_declared_range_and_values_drive_the_expectation_suite(tmp_path: Path) -> None:
    """Through to Great Expectations on a real frame: the declared bounds fail an hour whose values
    the derived ones (from recent profiles, here none) would not even have checked."""
    import pandas as pd

    from monitoring_pipeline.quality.suite import build_suite
    from monitoring_pipeline.quality.validate import validate

    raw = mutate("features.age", {"kind": "numerical", "range": [0, 120]})
    raw["models"][0]["features"]["plan"] = {"kind": "categorical", "values": ["free", "pro"]}
    model = load_config(write(tmp_path, raw)).models[0]
    specs = build_suite(model, {})
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(100)],
            "age": [30.0] * 95 + [500.0] * 5,  # 5 % outside [0, 120]: more than the 1 % allowed
            "plan": ["free"] * 90 + ["enterprise"] * 10,  # 10 % outside the set: more than 5 %
            "p": [0.5] * 100,
        }
    )
    results = {(r.expectation, r.column): r for r in validate(frame, specs)}
    between = results[("ExpectColumnValuesToBeBetween", "age")]
    in_set = results[("ExpectColumnValuesToBeInSet", "plan")]
    assert not between.success and between.unexpected_count == 5 and "[0, 120]" in between.description
    assert not in_set.success and in_set.unexpected_count == 10 and "enterprise" in in_set.sample_values
    frame["age"], frame["plan"] = 30.0, "pro"
    assert all(r.success for r in validate(frame, specs))


SECRET = "https://hooks.slack.example/services/T000/B000/XXXXSECRET"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (yaml.safe_dump({**BASE, "alerting": SECRET}), "field 'alerting': expected a mapping; got a str"),
        (
            yaml.safe_dump({**BASE, "alerting": {"sinks": {"chat": {"type": SECRET, "url_env": "X"}}}}),
            "field 'alerting.sinks.chat': expected a mapping with type: webhook or type: email",
        ),
        (
            yaml.safe_dump(mutate("alerts", [{"sink": SECRET}])),
            "field 'alerts[0].sink': unknown sink (not a sink name) (alerting.sinks: none defined)",
        ),
        (f"models: [\n  webhook: {SECRET}: x\n", "not valid YAML: "),
    ],
)
def test_no_error_quotes_a_secret_put_in_the_wrong_place(tmp_path: Path, text: str, expected: str) -> None:
    message = problems_of(tmp_path, text)
    assert expected in message and "XXXXSECRET" not in message, message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            mutate("features.age", {"kind": "numerical", "name": "income"}),
            "field 'features.age.name': not a field",
        ),
        (
            {**BASE, "alerting": {"sinks": {"log": {"type": "webhook", "url_env": "X"}}}},
            "field 'alerting.sinks.log': 'log' is the always-on JSON-lines log",
        ),
        (
            mutate("thresholds", {"drift_share_warn": 0.6}),
            "field 'thresholds.drift_share_warn': must not be above drift_share_error",
        ),
        (
            mutate("features.prediction", {"kind": "numerical", "critical": True}),
            "field 'features.prediction.critical': a critical feature may not be named 'prediction'",
        ),
        ("models: " + "[" * 3000 + "]" * 3000 + "\n", "not valid YAML: nested too deeply"),
    ],
)
def test_names_and_rules_that_would_mislead(tmp_path: Path, raw: Any, expected: str) -> None:
    assert expected in problems_of(tmp_path, raw if isinstance(raw, str) else yaml.safe_dump(raw))


def multiclass(labels: dict[str, Any], predictions: dict[str, Any] | None = None) -> dict[str, Any]:
    """BASE as a 3-class model: a predicted class and a score per class, with `labels` set."""
    raw = mutate("predictions", predictions or {"queue": "categorical", "score_a": "numerical",
                                                "score_b": "numerical", "score_c": "numerical"})  # fmt: skip
    raw["models"][0]["labels"] = {"location": "labels", "column": "y", "classes": ["a", "b", "c"], **labels}
    return raw


def test_multiclass_labels_default_to_the_class_column_and_score_columns(tmp_path: Path) -> None:
    labels = load_config(write(tmp_path, yaml.safe_dump(multiclass({})))).models[0].labels
    assert labels is not None and labels.class_column == "queue" and labels.positive_class is None
    assert labels.score_columns == {"a": "score_a", "b": "score_b", "c": "score_c"}
    partial = multiclass({}, {"queue": "categorical", "score_a": "numerical"})
    labels = load_config(write(tmp_path, yaml.safe_dump(partial))).models[0].labels
    assert labels is not None and labels.score_columns == {}  # not all declared: none (no CBPE, no log loss)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"classes": ["a", "b"]}, "field 'labels.classes': needs at least 3 distinct classes"),
        ({"classes": ["a", "b", "b"]}, "field 'labels.classes': needs at least 3 distinct classes"),
        ({"positive_class": "a"}, "field 'labels.positive_class': not for a multiclass model"),
        ({"score_columns": {"a": "score_a"}}, "field 'labels.score_columns': needs one column per class"),
        ({"score_columns": {"a": "queue", "b": "score_b", "c": "score_c"}},
         "field 'labels.score_columns.a': 'queue' is not a numerical prediction"),
        ({"class_column": "score_a"},
         "field 'labels.class_column': 'score_a' is not a categorical prediction"),
    ],
)  # fmt: skip
def test_multiclass_labels_are_validated_naming_the_field(
    tmp_path: Path, labels: dict[str, Any], message: str
) -> None:
    assert message in problems_of(tmp_path, yaml.safe_dump(multiclass(labels)))


def test_score_columns_belong_to_multiclass_models(tmp_path: Path) -> None:
    raw = mutate(
        "labels", {"location": "l", "column": "y", "positive_class": "1", "score_columns": {"1": "p"}}
    )
    assert "field 'labels.score_columns': only for a multiclass model" in problems_of(
        tmp_path, yaml.safe_dump(raw)
    )


@pytest.mark.parametrize(
    ("layout", "fields", "expected"),
    [
        ("s3", {}, "'s3' is neither a preset (hive, firehose, kafka_connect) nor a template"),
        ("{yyyy}/{MM}/{dd}/", {}, "needs {HH} exactly once (one folder per UTC hour)"),
        ("{yyyy}/{MM}/{dd}/{HH}/{HH}/", {}, "needs {HH} exactly once"),
        ("{yyyy}/{MM}/{dd}/{HH}", {}, "must be a folder (end in '/'"),
        ("{region}/{yyyy}/{MM}/{dd}/{HH}/", {}, "no value for {region} (set it in logs_fields)"),
        ("{yyyy!r}/{MM}/{dd}/{HH}/", {}, "must be a plain field name"),
        ("firehose", {"prefix": "../other/"}, "logs_fields.prefix: '../other/' may not hold braces, '..'"),
    ],
)
def test_a_logs_layout_that_names_no_hour_folder_is_refused(
    tmp_path: Path, layout: str, fields: dict[str, str], expected: str
) -> None:
    raw = mutate("logs_layout", layout)
    raw["models"][0]["logs_fields"] = fields
    message = problems_of(tmp_path, yaml.safe_dump(raw))
    assert "field 'logs_layout'" in message and expected in message, message


def test_layout_presets_partition_by_event_time_and_a_template_by_arrival(tmp_path: Path) -> None:
    for layout, event_time, folder in [
        ("hive", False, "m/dt=2026-12-05/hour=07/"),
        ("firehose", True, "m/2026/12/05/07/"),
        ("kafka_connect", True, "topics/m/year=2026/month=12/day=05/hour=07/"),
        ("{model}/{yyyy}{MM}{dd}/{HH}/", False, "m/20261205/07/"),
    ]:
        raw = mutate("logs_layout", layout)
        raw["models"][0]["name"] = "m"
        model = load_config(write(tmp_path, yaml.safe_dump(raw))).models[0]
        assert model.event_time is event_time and model.arrival_folders == int(event_time)
        hour = datetime(2026, 12, 5, 7, tzinfo=UTC)
        assert model.key_layout.folder(hour) == folder
        assert model.key_layout.hour_of(folder + "a-1-2026-12-05-07-59-59-x") == hour
        assert model.key_layout.hour_of("elsewhere/" + folder) is None


def test_a_misspelt_layout_field_is_refused_not_left_at_its_default(tmp_path: Path) -> None:
    raw = mutate("logs_layout", "firehose")
    raw["models"][0]["logs_fields"] = {"prefx": "fraud/"}
    message = problems_of(tmp_path, yaml.safe_dump(raw))
    assert "logs_fields ['prefx'] are not fields of the template (its fields: {prefix}" in message, message
