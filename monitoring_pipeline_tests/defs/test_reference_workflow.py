"""The README's workflow for a fixed reference window, through the console script, on the local store and
on S3: backfill the window (every run green; its hours' drift has no reference until the run that profiles
the window's last hour builds it), build the reference (`monitoring-pipeline reference`), backfill the
hours after. A partial window is refused, naming what is missing, unless --allow-partial."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from monitoring_pipeline.cli import main
from monitoring_pipeline.config import REPO_ROOT, MonitorsConfig
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.catalog import STATIC_HOUR
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS
from monitoring_pipeline_tests.defs.test_drift_pipeline import FRAUD
from monitoring_pipeline_tests.helpers import key, query
from monitoring_pipeline_tests.stores import Stores

pytestmark = pytest.mark.heavy(120)
WINDOW = 12  # the reference window: the demo's first 12 hours, backfilled in runs of 4


@pytest.fixture
def instance_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance of the test's own, as `make run` sets one up (DAGSTER_HOME with dagster.yaml)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def fixed_config(stores: Stores) -> MonitorsConfig:
    window = {"type": "fixed", "start": key(HOURS[0]), "end": key(HOURS[WINDOW])}
    return stores.config(reference=window)


def cli(config: MonitorsConfig, *args: str) -> int:
    return main(["--config", str(config.path), *args])


def backfill(config: MonitorsConfig, first: int, last: int) -> int:
    return cli(
        config, "backfill", "--model", FRAUD, "--from", key(HOURS[first]), "--to", key(HOURS[last]),
        "--hours-per-run", "4",
    )  # fmt: skip


def statuses(config: MonitorsConfig, first: int, last: int) -> dict[int, set[str]]:
    rows = query(
        config,
        "SELECT partition_hour, status FROM main.drift_metrics WHERE model = ? AND partition_hour "
        "BETWEEN ? AND ?",
        [FRAUD, HOURS[first], HOURS[last]],
    )
    out: dict[int, set[str]] = {}
    for hour, status in rows:
        out.setdefault(HOURS.index(hour), set()).add(status)
    return out


def test_fixed_window_workflow_every_run_green(
    stores: Stores, instance_home: Path, capsys: pytest.CaptureFixture
) -> None:
    config = fixed_config(stores)
    assert backfill(config, 0, WINDOW - 1) == 0  # was: exit 1, every run FAILED (MissingInputError)
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs()
    assert len(runs) == WINDOW // 4 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    got = statuses(config, 0, WINDOW - 1)
    # runs 1 and 2 came before the window was complete; run 3 profiled its last hour and built it
    assert got == {i: {"no_reference"} for i in range(8)} | {i: {"ok"} for i in range(8, WINDOW)}
    reason = query(
        config,
        "SELECT reference_window, details FROM main.drift_metrics WHERE model = ? AND partition_hour = ?",
        [FRAUD, HOURS[0]],
    )[0]
    assert "4/12 hours profiled: no reference yet" in reason[0]  # the first run had profiled 4 hours
    assert "monitoring-pipeline backfill --model fraud_classifier" in reason[1]
    built = instance.get_latest_materialization_event(dg.AssetKey([FRAUD, "reference_profile"]))
    assert built is not None and "12/12 hours profiled" in built.asset_materialization.description

    capsys.readouterr()
    assert cli(config, "reference", "--model", FRAUD) == 0
    assert "reference built: fixed [" in capsys.readouterr().out

    assert backfill(config, WINDOW, WINDOW + 7) == 0
    runs = instance.get_runs()
    assert len(runs) == WINDOW // 4 + 1 + 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    after = statuses(config, WINDOW, WINDOW + 7)
    assert after == {i: {"ok"} for i in range(WINDOW, WINDOW + 8)}
    [(window,)] = query(
        config,
        "SELECT DISTINCT reference_window FROM main.drift_metrics WHERE partition_hour >= ?",
        [HOURS[WINDOW]],
    )
    assert window.startswith("fixed [") and window.endswith("12/12 hours profiled")


def test_a_partial_window_is_refused_unless_asked_for(
    stores: Stores, instance_home: Path, capsys: pytest.CaptureFixture
) -> None:
    config = fixed_config(stores)
    assert backfill(config, 3, 4) == 0  # 2 of the window's 12 hours
    wh = Warehouse.open(config.warehouse)
    assert wh.hours_present(catalog.reference_profiles, FRAUD, [STATIC_HOUR]) == set()
    capsys.readouterr()

    assert cli(config, "reference", "--model", FRAUD) == 1  # was: built silently from 2 of 168 hours
    err = capsys.readouterr().err
    assert "has 2/12 hours profiled; missing 10:" in err
    assert f"{HOURS[0]:%Y-%m-%d %H:00} .. {HOURS[2]:%Y-%m-%d %H:00}" in err  # the missing spans
    assert f"{HOURS[5]:%Y-%m-%d %H:00} .. {HOURS[11]:%Y-%m-%d %H:00}" in err
    assert f"--from {key(HOURS[0])} --to {key(HOURS[11])}" in err and "--allow-partial" in err
    assert wh.hours_present(catalog.reference_profiles, FRAUD, [STATIC_HOUR]) == set()  # nothing written

    assert cli(config, "reference", "--model", FRAUD, "--allow-partial") == 0
    assert "2/12 hours profiled" in capsys.readouterr().out
    assert wh.hours_present(catalog.reference_profiles, FRAUD, [STATIC_HOUR]) == {STATIC_HOUR}


def test_reference_refuses_a_trailing_window(
    config: MonitorsConfig, instance_home: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli(config, "reference", "--model", FRAUD) == 2
    assert "trailing reference is built hour by hour" in capsys.readouterr().err
    assert cli(config, "reference", "--model", "nope") == 2
    assert "no model 'nope'" in capsys.readouterr().err


def test_empty_hours_complete_a_window_and_a_changed_window_is_rebuilt(
    stores: Stores, instance_home: Path
) -> None:
    """Hours 30 (empty) and 31 (missing) of the demo load with no rows and are never profiled: they
    complete the window all the same. Editing the window in the config drops the stored reference: an
    hour after the new window has no reference until its hours load, and says so with a failed WARN."""
    window = {"type": "fixed", "start": key(HOURS[28]), "end": key(HOURS[32])}
    config = stores.config(reference=window)
    assert backfill(config, 28, 31) == 0
    assert statuses(config, 28, 31) == {28: {"ok"}, 29: {"ok"}}  # 30 and 31: blocked, no drift
    [(built,)] = query(config, "SELECT DISTINCT reference_window FROM main.drift_metrics")
    assert built.endswith(f"[{HOURS[28]:%Y-%m-%d %H:00}, {HOURS[32]:%Y-%m-%d %H:00}) UTC, 2/4 hours profiled")

    moved = stores.config(reference={**window, "start": key(HOURS[26]), "end": key(HOURS[30])})
    assert backfill(moved, 40, 40) == 0
    assert statuses(moved, 40, 40) == {40: {"no_reference"}}  # the stored one is for the old window
    [(passed, severity, description)] = query(
        moved,
        "SELECT passed, severity, description FROM main.check_results WHERE model = ? AND partition_hour = ?"
        " AND check_name = 'drift_share_below_threshold'",
        [FRAUD, HOURS[40]],
    )
    assert (passed, severity) == (False, "WARN")
    assert description.startswith("drift not measured: fraud_classifier: the fixed reference window")
    assert "has 2/4 hours profiled; missing 2:" in description

    assert backfill(moved, 26, 27) == 0  # the run that loads the new window's last hours builds it
    assert statuses(moved, 26, 27) == {26: {"ok"}, 27: {"ok"}}
    [(rebuilt,)] = query(
        moved,
        "SELECT DISTINCT reference_window FROM main.drift_metrics WHERE partition_hour IN (?, ?)",
        [HOURS[26], HOURS[27]],
    )
    assert rebuilt.endswith(
        f"[{HOURS[26]:%Y-%m-%d %H:00}, {HOURS[30]:%Y-%m-%d %H:00}) UTC, 4/4 hours profiled"
    )


def test_a_partial_reference_is_rebuilt_once_its_window_is_complete(
    stores: Stores, instance_home: Path, capsys: pytest.CaptureFixture
) -> None:
    config = fixed_config(stores)
    assert backfill(config, 0, 1) == 0
    assert cli(config, "reference", "--model", FRAUD, "--allow-partial") == 0
    assert "2/12 hours profiled" in capsys.readouterr().out
    assert backfill(config, 2, WINDOW - 1) == 0  # runs of 4: 2-5 and 6-9 use it, 10-11 completes it
    rows = query(
        config, "SELECT partition_hour, reference_window FROM main.drift_metrics WHERE model = ?", [FRAUD]
    )
    windows = {HOURS.index(hour): window.rsplit(", ", 1)[1] for hour, window in rows}
    before = {i: "2/12 hours profiled: no reference yet" for i in range(2)}  # loaded before it was built
    partial = {i: "2/12 hours profiled" for i in range(2, 10)}
    assert windows == before | partial | {i: "12/12 hours profiled" for i in range(10, 12)}


def test_a_training_file_replaced_in_place_is_picked_up(stores: Stores, instance_home: Path) -> None:
    """A retrained model's training file written over the old one: the next drift run rebuilds the
    reference from it (the reference object keeps the file's version), on the local store and S3."""
    from monitoring_pipeline.demo import training_frame, write_training_file
    from monitoring_pipeline_tests.conftest import DEMO_END

    model, path = "delivery_time_regressor", f"{stores.root}/reference/training.parquet"
    frame = training_frame(model, end=DEMO_END)
    write_training_file(path, frame.iloc[:1000])
    config = stores.config(reference={"type": "file", "path": path})

    def reference_at(i: int) -> str:
        hour = key(HOURS[i])
        assert cli(config, "backfill", "--model", model, "--from", hour, "--to", hour) == 0
        [(window,)] = query(
            config,
            "SELECT DISTINCT reference_window FROM main.drift_metrics WHERE model = ? AND partition_hour = ?",
            [model, HOURS[i]],
        )
        return window

    assert reference_at(10) == f"file {path} (1000 rows)"
    assert reference_at(11) == f"file {path} (1000 rows)"  # the same file: the stored reference
    time.sleep(0.01)  # a new modification time, on a local file of the same size
    write_training_file(path, frame.iloc[:2000])
    assert reference_at(12) == f"file {path} (2000 rows)"
