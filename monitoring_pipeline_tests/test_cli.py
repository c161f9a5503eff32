"""The console script: seed-demo (idempotent with --if-empty), validate-config, sql, backfill (its
progress, summary and log file)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from monitoring_pipeline.cli import main
from monitoring_pipeline.config import REPO_ROOT, ConfigError, load_config
from monitoring_pipeline.console import BackfillConsole
from monitoring_pipeline.defs.backfill import RunOutcome
from monitoring_pipeline_tests.conftest import HOURS, source_rows, write_config
from monitoring_pipeline_tests.helpers import key, materialize_logs
from monitoring_pipeline_tests.stores import Stores


def test_seed_demo_then_if_empty_does_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = write_config(tmp_path, str(tmp_path / "logs"))
    assert main(["--config", str(config), "seed-demo", "--hours", "3", "--end", "2026-11-24-00:00"]) == 0
    files = sorted((tmp_path / "logs").rglob("*.parquet"))
    assert len(files) == 3 * 3 * 2  # three models, three hours, two replicas
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


FRAUD = "fraud_classifier"


def test_backfill_shows_progress_and_a_summary_and_keeps_dagsters_events_in_a_log_file(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    """Four hours in runs of the model's max_hours_per_run (2): the second hour missing (its blocking
    check fails, its run succeeds), the third truncated upstream (its run fails). The terminal gets a
    progress line per run and the summary with each failed hour's reason; Dagster's DEBUG stream goes to
    the log file only; the instance keeps the runs and their events."""
    h0, h1, h2, h3 = HOURS[6:10]
    logs = f"{stores.root}/logs"
    for hour in (h0, h2, h3):
        stores.copy_hour(FRAUD, hour, logs)
    [broken, *_] = stores.hour_objects(logs, FRAUD, h2)
    stores.put(logs, broken.key, stores.read(logs, broken.key)[:100])  # truncated upstream
    config = stores.config(logs, max_hours_per_run=2)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    window = ["--model", FRAUD, "--from", key(h0), "--to", key(h3)]
    assert main(["--config", str(config.path), "backfill", *window]) == 1
    out, err = capfd.readouterr()
    assert "DEBUG" not in out + err and " - dagster - " not in out + err
    lines = out.splitlines()
    [log_path] = re.findall(r"event log of this backfill: (\S+\.log)$", lines[0])
    assert Path(log_path).parent == home / "logs"
    events = Path(log_path).read_text()
    assert events.count(" - DEBUG - ") > 50 and "STEP_FAILURE" in events

    progress = [line for line in lines if line.startswith(f"{FRAUD}: ")]
    assert len(progress) == 2  # one line per run, no control codes
    assert "\x1b[" not in out
    rows_h0 = stores.source_rows(logs, FRAUD, h0)  # counted by pyarrow, not by the pipeline
    assert progress[0].startswith(f"{FRAUD}: 2/4 h (50%), {rows_h0:,} rows, ")
    assert " rows/s, ETA " in progress[0]
    assert re.search(r"ok, 1 failed hour\(s\) in \d+\.\d s$", progress[0]), progress[0]
    assert progress[1].startswith(f"{FRAUD}: 4/4 h (100%), ") and "FAILED, 2 failed hour(s)" in progress[1]

    [row] = [line for line in lines if line.startswith(f"│ {FRAUD}")]
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[1:5] == ["2", "1", "4/4", "3"]  # runs, failed runs, hours, failed hours
    failed = lines[lines.index("failed hours:") + 1 :]
    assert failed[0].startswith(f"  {FRAUD} {h1:%Y-%m-%d %H}:00: hour_is_not_empty: ")
    assert failed[1].startswith(f"  {FRAUD} {h2:%Y-%m-%d %H}:00..{h3:%Y-%m-%d %H}:00 (2 h): step ")
    assert "IngestError" in failed[1] and broken.key.rsplit("/", 1)[1] in failed[1]

    instance = dg.DagsterInstance.from_config(str(home))
    runs = instance.get_runs(dg.RunsFilter(tags={"monitoring/backfill": "cli"}))
    assert sorted(r.status.value for r in runs) == ["FAILURE", "SUCCESS"]
    for run in runs:  # the UI's view: each run's events, the step failure among them
        assert run.run_id[:8] in out and len(instance.all_logs(run.run_id)) > 20

    # an explicit --hours-per-run overrides the model's (h1 alone: its one-hour run fails, blocked)
    again = ["--config", str(config.path), "backfill", *window[:4], "--to", key(h1), "--hours-per-run", "1"]
    assert main(again) == 1
    assert len([line for line in capfd.readouterr().out.splitlines() if line.startswith(f"{FRAUD}: ")]) == 2


def test_backfill_progress_on_a_terminal_draws_a_bar_per_model() -> None:
    """On a terminal (a pseudo-terminal here) the bars are drawn with control codes, each run's line
    printed above them; the summary follows."""
    leader, follower = os.openpty()
    hours = tuple(HOURS[:2])
    with os.fdopen(follower, "w") as tty:
        with BackfillConsole({FRAUD: 4, "other": 2}, out=tty) as shown:
            shown.step_done(FRAUD, 1.0)
            shown.run_done(RunOutcome(FRAUD, "a" * 36, hours, True, 1200, 2.0))
        shown.summary(interrupted=False)
    drawn = b""
    while chunk := _read_ready(leader):
        drawn += chunk
    os.close(leader)
    text = drawn.decode()
    assert "\x1b[" in text and "━" in text  # control codes and a bar
    assert f"{FRAUD}: 2/4 h (50%), 1,200 rows" in text and "other" in text
    assert "backfill summary" in text


def _read_ready(fd: int) -> bytes:
    """What the pseudo-terminal holds; b"" at its end (Linux answers EIO once the other side closed)."""
    import errno
    import select

    if not select.select([fd], [], [], 0.2)[0]:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError as exc:
        if exc.errno != errno.EIO:
            raise
        return b""


def test_the_demo_backfill_reads_the_window_seed_demo_recorded(tmp_path: Path) -> None:
    """`backfill --demo` covers exactly the recorded window (a 3-hour seed: 3 hours, not 96), and logs
    seeded before the window was recorded get it recorded from the store by `seed-demo --if-empty`."""
    from monitoring_pipeline.cli import _demo_window
    from monitoring_pipeline.config.demo_window import read_demo_window

    path = write_config(tmp_path, str(tmp_path / "logs"), partitions_start="demo")
    assert main(["--config", str(path), "seed-demo", "--hours", "3", "--end", "2026-11-24-00:00"]) == 0
    first = datetime(2026, 11, 23, 21, tzinfo=UTC)
    assert _demo_window(load_config(path)) == [first + timedelta(hours=i) for i in range(3)]
    (tmp_path / "data" / "demo_window.json").unlink()  # as an earlier release left it
    assert main(["--config", str(path), "seed-demo", "--if-empty"]) == 0
    assert read_demo_window(tmp_path) == (first, first + timedelta(hours=3))
    assert load_config(path).models[0].partitions_start == first
