"""As a person would see it: the Dagster webserver on loopback opened in headless Chromium (Debian's
`chromium`), the asset graph of both demo models, a drift_metrics partition's metadata with the drift
summary, a check's status per hour (also of hours checked in one run of several), and the drift report
HTML rendered with its charts. Screenshots are saved beside the test's
temporary files (the path is printed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pytest
import yaml

from monitoring_pipeline.config import REPO_ROOT, load_config
from monitoring_pipeline.publish.reports import report_key
from monitoring_pipeline_tests.browser import Browser
from monitoring_pipeline_tests.conftest import HOURS, write_config
from monitoring_pipeline_tests.helpers import free_port, key, query, run_pipeline, stop_process_group

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
LOCATION = "monitoring_pipeline.definitions"
ASSETS = {
    "fraud_classifier": ["prediction_logs", "feature_profiles", "reference_profile", "drift_metrics",
                         "labels", "model_performance", "drift_report"],
    "delivery_time_regressor": ["prediction_logs", "feature_profiles", "reference_profile", "reference_data",
                                "drift_metrics", "labels", "model_performance", "drift_report"],
}  # fmt: skip


def test_the_ui_and_the_drift_report_in_a_real_browser(tmp_path: Path, demo_logs: Path) -> None:
    config = load_config(write_config(tmp_path, str(demo_logs)))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text()))
    )
    incident = HOURS[80]  # the delivery model's unit bug: distance_km arrives in metres
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for hour in (HOURS[79], incident):  # hourly runs, as the schedule makes them
            assert run_pipeline(config, "delivery_time_regressor", hour, hour, instance=instance).success
        # and a backfill's run of several hours: Dagster still gets each hour's check result
        assert run_pipeline(
            config, "delivery_time_regressor", HOURS[81], HOURS[84], instance=instance
        ).success
    [(failed, passed)] = query(
        config,
        "SELECT count(*) FILTER (NOT passed), count(*) FILTER (passed) FROM main.check_results "
        "WHERE model = 'delivery_time_regressor' AND check_name = 'distance_km_not_drifted'",
    )
    assert failed >= 2 and passed >= 1 and failed + passed == 6
    env = {**os.environ, "MONITORING_CONFIG": str(config.path), "DAGSTER_HOME": str(home)}
    port = free_port()
    ui = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    browser = None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline and ui.poll() is None, "the webserver did not start"
                time.sleep(1)
        browser = Browser()
        base = f"http://127.0.0.1:{port}"
        for model, names in ASSETS.items():
            browser.goto(f"{base}/locations/{LOCATION}/asset-groups/{model}/lineage")
            browser.wait_for(model, *names)
            browser.click("Skip")  # Dagster's newsletter prompt, if it shows
            shot = browser.screenshot(tmp_path / f"lineage-{model}.png")
            assert browser.click("List")  # the same assets as a list: each explains itself
            browser.wait_for(
                f"{model} / drift_metrics", "Drift of each feature and prediction", "Ground truth"
            )
            assert shot.stat().st_size > 20_000
        partition = quote(key(incident), safe="")
        browser.goto(
            f"{base}/assets/delivery_time_regressor/drift_metrics?view=partitions&partition={partition}"
        )
        text = browser.wait_for("drift_share", "drifted_features", "2 column(s) drifted", "distance_km")
        assert "predicted_minutes" in text and "reference_window" in text
        browser.screenshot(tmp_path / "drift-metrics-partition.png")
        # the hour's drift report, rendered by the same browser from where the pipeline stored it
        report = Path(config.warehouse.tables_root) / report_key("delivery_time_regressor", incident)
        browser.goto(report.as_uri())
        browser.wait_for("2 of 7 columns drifted: distance_km, predicted_minutes")
        charts = browser.evaluate(
            "[...document.querySelectorAll('svg.dist')].map(s => [s.dataset.feature,"
            " s.querySelectorAll('rect.ref').length, s.querySelectorAll('rect.cur').length,"
            " s.getBoundingClientRect().width])"
        )
        assert len(charts) == 7 and all(ref > 0 and cur > 0 and width > 100 for _, ref, cur, width in charts)
        drifted = browser.evaluate(
            "[...document.querySelectorAll('.card.drifted')].map(c => c.dataset.feature)"
        )
        assert sorted(drifted) == ["distance_km", "predicted_minutes"]
        shot = browser.screenshot(tmp_path / "drift-report.png")
        assert shot.stat().st_size > 20_000
        # each check's status per hour, as Dagster itself keeps it, agrees with check_results
        browser.goto(
            f"{base}/assets/delivery_time_regressor/drift_metrics?view=checks&checkDetail=distance_km_not_drifted"
        )
        browser.wait_for("Execution history", "Partitions")
        browser.click("Skip")
        assert (
            browser.evaluate(  # the check's own Partitions tab (the asset's comes first)
                "(() => { const t = [...document.querySelectorAll('[role=tab]')]"
                ".filter(e => e.innerText.trim() === 'Partitions');"
                " t[t.length - 1].click(); return t.length; })()"
            )
            == 2
        )
        browser.wait_for(f"Failed ({failed})", f"Passed ({passed})", "In Progress (0)")
        browser.screenshot(tmp_path / "check-partitions.png")
        print(f"screenshots in {tmp_path}")
    finally:
        if browser is not None:
            browser.close()
        stop_process_group(ui)
