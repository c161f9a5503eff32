"""The console script: seed-demo (idempotent with --if-empty), validate-config, sql."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring_pipeline.cli import main
from monitoring_pipeline.config import ConfigError, load_config
from monitoring_pipeline_tests.conftest import source_rows, write_config
from monitoring_pipeline_tests.helpers import materialize_logs


def test_seed_demo_then_if_empty_does_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = write_config(tmp_path, str(tmp_path / "logs"))
    assert main(["--config", str(config), "seed-demo", "--hours", "3", "--end", "2026-11-24-00:00"]) == 0
    files = sorted((tmp_path / "logs").rglob("*.parquet"))
    assert len(files) == 2 * 3 * 2  # two models, three hours, two replicas
    stamps = [f.stat().st_mtime_ns for f in files]
    assert main(["--config", str(config), "seed-demo", "--if-empty"]) == 0
    assert "already present" in capsys.readouterr().out
    assert [f.stat().st_mtime_ns for f in sorted((tmp_path / "logs").rglob("*.parquet"))] == stamps


def test_validate_config_reports_errors_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    good = write_config(tmp_path, str(tmp_path / "logs"))
    assert main(["--config", str(good), "validate-config"]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("task: regression", "task: forecasting"))
    assert main(["--config", str(bad), "validate-config"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 1 problem(s)" in err and "model 'delivery_time_regressor': field 'task'" in err


def test_sql_queries_the_warehouse_read_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_config(tmp_path, str(tmp_path / "logs"))
    main(["--config", str(path), "seed-demo", "--hours", "2", "--end", "2026-11-24-00:00"])
    hour = datetime(2026, 11, 23, 22, tzinfo=UTC)
    materialize_logs(load_config(path), "fraud_classifier", hour)
    capsys.readouterr()
    assert (
        main(["--config", str(path), "sql", "SELECT count(*) AS n FROM fraud_classifier.prediction_logs"])
        == 0
    )
    expected = source_rows(tmp_path / "logs", "fraud_classifier", hour)
    assert expected > 1000 and f" {expected} │" in capsys.readouterr().out


def test_seed_demo_records_its_window_where_the_demo_models_start(tmp_path: Path) -> None:
    """`partitions_start: demo` (the repository's monitors file): before seeding, the hour seed-demo would
    start at now; after, the first hour it wrote, so the UI shows no missing partitions before the demo."""
    import yaml

    from monitoring_pipeline.config import REPO_ROOT
    from monitoring_pipeline.defs.partitions import hourly_partitions

    raw = yaml.safe_load((REPO_ROOT / "monitors.yaml").read_text())
    assert {m["partitions_start"] for m in raw["models"]} == {"demo"}
    path = write_config(tmp_path, str(tmp_path / "logs"), partitions_start="demo")
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert {m.partitions_start for m in load_config(path).models} <= {
        before - timedelta(hours=96),
        before - timedelta(hours=95),  # the clock passed an hour meanwhile
    }
    assert main(["--config", str(path), "seed-demo", "--hours", "5", "--end", "2026-11-24-03:00"]) == 0
    assert (tmp_path / "data" / "demo_window.json").exists()
    for model in load_config(path).models:
        assert model.partitions_start == datetime(2026, 11, 23, 22, tzinfo=UTC)
        assert hourly_partitions(model).get_first_partition_key() == "2026-11-23-22:00"
    (tmp_path / "data" / "demo_window.json").write_text('{"begin": 1}')
    with pytest.raises(ConfigError, match=r"demo_window\.json: not a demo window written by seed-demo"):
        load_config(path)
