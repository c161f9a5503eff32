"""The definitions load, and every dependency and check points at an asset that exists
(`dagster definitions validate` does not catch a dangling one)."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest

from monitoring_pipeline.config import REPO_ROOT, ConfigError, MonitorsConfig, load_config
from monitoring_pipeline.defs.factory import build_definitions


def all_keys(defs: dg.Definitions) -> tuple[set[dg.AssetKey], list]:
    graph = defs.resolve_asset_graph()
    return set(graph.get_all_asset_keys()), list(graph.asset_nodes)


def test_every_dependency_and_check_targets_an_existing_asset(config: MonitorsConfig) -> None:
    defs = build_definitions(config)
    keys, nodes = all_keys(defs)
    assert nodes
    for node in nodes:
        missing = set(node.parent_keys) - keys
        assert not missing, f"{node.key} depends on missing assets {missing}"
    for check_key in defs.resolve_asset_graph().asset_check_keys:
        assert check_key.asset_key in keys, f"check {check_key} targets missing {check_key.asset_key}"


def test_every_job_schedule_and_sensor_targets_existing_assets(config: MonitorsConfig) -> None:
    defs = build_definitions(config)
    keys, _ = all_keys(defs)
    for model in config.models:
        job = defs.resolve_job_def(f"{model.name}_hourly")
        selected = set(job.asset_layer.selected_asset_keys)
        assert selected and selected <= keys
        assert dg.AssetKey([model.name, "prediction_logs"]) in selected
        assert defs.resolve_schedule_def(f"{model.name}_hourly_schedule").job_name == job.name
        assert defs.resolve_sensor_def(f"{model.name}_late_files").job_name == job.name
    assert defs.resolve_sensor_def("check_failure_alerts").default_status == dg.DefaultSensorStatus.RUNNING


def test_each_model_is_its_own_group_with_hourly_utc_partitions(config: MonitorsConfig) -> None:
    defs = build_definitions(config)
    _, nodes = all_keys(defs)
    for model in config.models:
        node = next(n for n in nodes if n.key == dg.AssetKey([model.name, "prediction_logs"]))
        assert node.group_name == model.name
        assert node.description and model.name in node.description
        partitions = node.partitions_def
        assert isinstance(partitions, dg.HourlyPartitionsDefinition) and partitions.timezone == "UTC"
        assert partitions.get_first_partition_key() == model.partitions_start.strftime("%Y-%m-%d-%H:%M")


def test_definitions_module_loads_the_shipped_config() -> None:
    from monitoring_pipeline.definitions import defs

    keys, _ = all_keys(defs)
    assert {k.to_user_string() for k in keys} >= {
        "fraud_classifier/prediction_logs",
        "delivery_time_regressor/prediction_logs",
    }


def test_dagster_cli_validates_the_workspace(tmp_path) -> None:
    env = {"DAGSTER_HOME": str(tmp_path), "PATH": str(REPO_ROOT / ".venv" / "bin")}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_a_bad_config_stops_loading_with_one_clear_error(tmp_path) -> None:
    bad = tmp_path / "monitors.yaml"
    bad.write_text((REPO_ROOT / "monitors.yaml").read_text().replace("kind: categorical", "kind: categoric"))
    env = {"MONITORING_CONFIG": str(bad), "DAGSTER_HOME": str(tmp_path)}
    code = "import monitoring_pipeline.definitions"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"{bad}: 1 problem(s)" in result.stderr
    assert "model 'fraud_classifier': field 'features.merchant_category.kind'" in result.stderr
    with pytest.raises(ConfigError) as info:  # the same parser and message as the CLI's
        load_config(bad)
    assert str(info.value) in result.stderr


def reference_deps(config: MonitorsConfig, model: str) -> tuple:
    graph = build_definitions(config).resolve_asset_graph()
    node = graph.get(dg.AssetKey([model, "reference_profile"]))
    drift = graph.get(dg.AssetKey([model, "drift_metrics"]))
    return node, drift


def test_lineage_shows_where_each_reference_comes_from(tmp_path) -> None:
    from monitoring_pipeline_tests.conftest import write_config

    config = load_config(write_config(tmp_path, str(tmp_path / "logs")))
    trailing, drift = reference_deps(config, "fraud_classifier")
    assert set(trailing.parent_keys) == {dg.AssetKey(["fraud_classifier", "feature_profiles"])}
    assert trailing.partitions_def is not None  # one reference per hour: the 24 hours before it
    assert set(drift.parent_keys) == {
        dg.AssetKey(["fraud_classifier", n]) for n in ("feature_profiles", "reference_profile")
    }
    from_file, _ = reference_deps(config, "delivery_time_regressor")
    assert set(from_file.parent_keys) == {dg.AssetKey(["delivery_time_regressor", "reference_data"])}
    assert from_file.partitions_def is None
    fixed = {"type": "fixed", "start": "2026-11-20-00:00", "end": "2026-11-21-00:00"}
    config = load_config(write_config(tmp_path, str(tmp_path / "logs"), reference=fixed))
    node, _ = reference_deps(config, "fraud_classifier")
    assert (
        set(node.parent_keys) == {dg.AssetKey(["fraud_classifier", "feature_profiles"])}
        and node.partitions_def is None
    )


def test_every_asset_and_check_explains_itself_with_owners_and_kinds(config: MonitorsConfig) -> None:
    defs = build_definitions(config)
    graph = defs.resolve_asset_graph()
    for model in config.models:
        assert model.owners  # the shipped monitors file names who is on call
        nodes = [n for n in graph.asset_nodes if n.key.path[0] == model.name]
        assert {n.key.path[1] for n in nodes} >= {"labels", "model_performance", "drift_report"}
        for node in nodes:
            assert node.group_name == model.name
            assert list(node.owners) == list(model.owners), node.key
            assert node.kinds, node.key
            assert node.description and len(node.description) > 60, node.key
        logs = next(n for n in nodes if n.key.path[1] == "prediction_logs")
        assert {"duckdb", "great_expectations"} <= set(logs.kinds)
    for check_key in graph.asset_check_keys:
        assert len(graph.get_check_spec(check_key).description or "") > 20, check_key
    sensors = {s.name for s in defs.sensors}
    assert {"prometheus_textfile", *(f"{m.name}_label_updates" for m in config.models)} <= sensors
