"""The drift report (HTML), the window heat map, the Prometheus textfile and the Grafana dashboard, on
the demo's delivery model around its unit-bug incident (hours 80-87: distance_km x1000)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring_pipeline.cli import main
from monitoring_pipeline.config import REPO_ROOT, MonitorsConfig, load_config
from monitoring_pipeline.publish.prometheus import HELP, PREFIX, collect, render
from monitoring_pipeline.publish.reports import hour_report, report_key
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS, write_config
from monitoring_pipeline_tests.helpers import query, run_pipeline
from monitoring_pipeline_tests.integration.test_alerts import tick

DELIVERY = "delivery_time_regressor"


class Elements(HTMLParser):
    """Every start tag with its attributes, and the page text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    page = Elements()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


@pytest.fixture(scope="module")
def delivery(
    tmp_path_factory: pytest.TempPathFactory, demo_logs: Path, instance: dg.DagsterInstance
) -> MonitorsConfig:
    config = load_config(write_config(tmp_path_factory.mktemp("reports"), str(demo_logs)))
    assert run_pipeline(config, DELIVERY, HOURS[77], HOURS[82], instance=instance).success
    return config


def svg_of(page: Elements, feature: str) -> tuple[dict[str, str], list[float]]:
    """A column's chart: its svg element's attributes and the reference's share per bin."""
    inside, svg, ref = False, {}, []
    for tag, attrs in page.tags:
        if tag == "svg":
            inside = attrs.get("data-feature") == feature
            svg = attrs if inside else svg
        elif inside and tag == "rect" and attrs.get("class") == "ref":
            ref.append(float(attrs["data-share"]))
    return svg, ref


def report_html(config: MonitorsConfig, hour: datetime) -> str:
    return (Path(config.warehouse.tables_root) / report_key(DELIVERY, hour)).read_text()


def test_hour_report_shows_the_unit_bug_as_drift_and_is_self_contained(delivery: MonitorsConfig) -> None:
    page = parse(report_html(delivery, HOURS[80]))
    cards = {a["data-feature"]: a["data-status"] for t, a in page.tags if t == "div" and "data-status" in a}
    columns = [c.name for c in delivery.model(DELIVERY).monitored_columns]
    assert set(cards) == set(columns)
    assert cards["distance_km"] == "drifted" and cards["predicted_minutes"] == "drifted"
    assert all(
        status == "ok" for name, status in cards.items() if name not in ("distance_km", "predicted_minutes")
    )
    charts = [a for t, a in page.tags if t == "svg" and "dist" in a.get("class", "")]
    assert sorted(a["data-feature"] for a in charts) == sorted(columns)  # one chart per column
    rect_classes = [a.get("class") for t, a in page.tags if t == "rect"]
    assert rect_classes.count("ref") >= len(columns) and rect_classes.count("cur") >= len(columns)
    text = " ".join(page.text)
    assert "2 of 7 columns drifted: distance_km, predicted_minutes" in text
    assert "data_quality_expectations_pass" in text and "performance_within_margin" in text
    # nothing is fetched at view time
    assert not [t for t, _ in page.tags if t in ("script", "link", "img", "iframe")]
    assert not re.search(r"(src|href)\s*=\s*['\"]?https?:", report_html(delivery, HOURS[80]))
    # each card says in words what the battery found: the drifted column names what fired
    findings: dict[str, list[dict[str, str]]] = {}
    card = None
    for tag, attrs in page.tags:
        if tag == "div" and "data-feature" in attrs:
            card = attrs["data-feature"]
        if tag == "li" and "finding" in attrs.get("class", ""):
            findings.setdefault(card, []).append(attrs)
    assert {f["data-test"] for f in findings["distance_km"] if f["data-fired"] == "true"} >= {"tails"}
    assert all(f["data-fired"] == "false" for f in findings["items"])
    [stored] = query(
        delivery,
        "SELECT details FROM drift_metrics"
        " WHERE model = ? AND feature = 'distance_km' AND partition_hour = ?",
        [DELIVERY, HOURS[80]],
    )
    assert json.loads(stored[0])["explanation"].split("; ")[0] in text
    # the unit bug (x1000) puts distance_km on a log axis, where the reference keeps its shape
    svg, ref = svg_of(page, "distance_km")
    assert svg["data-scale"] == "log" and sum(share >= 0.01 for share in ref) >= 10
    assert sum(ref) == pytest.approx(1.0, abs=1e-4)  # six significant digits per bin
    # written by the run, before the alert sensor's next tick
    [status] = [a for t, a in page.tags if a.get("id") == "alert-status"]
    assert status["data-state"] == "waiting"
    before = parse(report_html(delivery, HOURS[79]))
    assert svg_of(before, "distance_km")[0]["data-scale"] == "linear"  # a quiet hour: a linear axis
    statuses = {
        a["data-feature"]: a["data-status"] for t, a in before.tags if t == "div" and "data-status" in a
    }
    assert statuses["distance_km"] == "ok"  # the hour before the incident is quiet


def test_after_the_alert_sensor_ticks_the_report_lists_its_alerts_or_says_none(
    delivery: MonitorsConfig, instance: dg.DagsterInstance
) -> None:
    tick(delivery, instance, None)  # the real sensor, over the run's check evaluations
    wh = Warehouse.open(delivery.warehouse)
    model = delivery.model(DELIVERY)
    incident = parse(hour_report(model, HOURS[80], wh))
    [status] = [a for t, a in incident.tags if a.get("id") == "alert-status"]
    assert status["data-state"] == "processed"
    text = " ".join(incident.text)
    assert "distance_km_not_drifted" in text.split("Alerts", 1)[1]  # the failed check's alert is listed
    # every hour of the run: processed, its failed checks' alerts listed, or "no alert" when all passed
    said_none = 0
    for hour in HOURS[77:83]:
        page = parse(hour_report(model, hour, wh))
        [status] = [a for t, a in page.tags if a.get("id") == "alert-status"]
        assert status["data-state"] == "processed"
        alerts = " ".join(page.text).split("Alerts", 1)[1]
        latest = wh.results.hour_rows(catalog.check_results, DELIVERY, [hour])
        failed = [r["check_name"] for r in latest if not r["passed"]]
        assert all(name in alerts for name in failed)
        assert ("No alert: every check passed." in alerts) == (not failed)
        said_none += not failed
    assert said_none >= 1


def test_window_report_marks_exactly_the_incident_hours(delivery: MonitorsConfig) -> None:
    reports = Path(delivery.warehouse.tables_root) / "reports" / DELIVERY / "windows"
    [window] = list(reports.glob("*.html"))
    page = parse(window.read_text())
    drifted_hours: dict[str, set[str]] = {}
    current = None
    for tag, attrs in page.tags:
        if tag == "tr":
            current = attrs.get("data-feature")
        if tag == "td" and attrs.get("class") == "drifted" and current:
            drifted_hours.setdefault(current, set()).add(attrs["data-hour"])
    expected = {f"{h:%Y-%m-%d-%H}:00" for h in HOURS[80:83]}
    assert drifted_hours == {"distance_km": expected, "predicted_minutes": expected}


def test_prometheus_textfile_parses_and_matches_the_warehouse(delivery: MonitorsConfig) -> None:
    wh = Warehouse.open(delivery.warehouse)
    text = render(collect(delivery, wh))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) <= {PREFIX + name for name in HELP}
    for family in families.values():
        assert re.fullmatch(r"monitoring_pipeline_[a-z_]+", family.name) and family.type == "gauge"
        assert family.documentation
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}

    def get(name: str, **labels: str) -> float:
        return value[(PREFIX + name, tuple(sorted(labels.items())))]

    newest = HOURS[82]
    assert get("last_partition_timestamp_seconds", model=DELIVERY) == newest.timestamp()
    [(rows,)] = query(
        delivery, f"SELECT count(*) FROM {DELIVERY}.prediction_logs WHERE partition_hour = ?", [newest]
    )
    assert get("rows", model=DELIVERY) == rows
    [(share,)] = query(
        delivery, "SELECT drift_share FROM main.drift_summary WHERE partition_hour = ?", [newest]
    )
    assert get("drift_share_ratio", model=DELIVERY) == pytest.approx(share, abs=1e-12)
    for feature, role, test, score, drifted in query(
        delivery,
        "SELECT feature, role, test, score, drifted FROM main.drift_metrics WHERE partition_hour = ?",
        [newest],
    ):
        labels = {"model": DELIVERY, "feature": feature, "role": role, "test": test}
        assert get("feature_drift_score", **labels) == pytest.approx(score, abs=1e-12)
        assert get("feature_drifted", model=DELIVERY, feature=feature) == float(drifted)
    latest = query(
        delivery,
        "SELECT check_name, passed, severity FROM main.check_results WHERE model = ? AND partition_hour = ? "
        "QUALIFY row_number() OVER (PARTITION BY check_name ORDER BY evaluated_at DESC) = 1",
        [DELIVERY, newest],
    )
    assert latest
    for check, passed, severity in latest:
        assert get("check_passed", model=DELIVERY, check=check, severity=severity) == float(passed)
    assert get("check_passed", model=DELIVERY, check="distance_km_not_drifted", severity="ERROR") == 0.0
    [(mae,)] = query(delivery, "SELECT mae FROM main.model_performance WHERE partition_hour = ?", [newest])
    assert get("performance", model=DELIVERY, metric="mae") == pytest.approx(mae, rel=1e-12)


def test_cli_writes_the_textfile_atomically_and_reports(delivery: MonitorsConfig, tmp_path: Path) -> None:
    out = tmp_path / "node_exporter" / "monitoring.prom"
    assert main(["--config", str(delivery.path), "metrics", "--out", str(out)]) == 0
    assert list(text_string_to_metric_families(out.read_text()))
    assert [p.name for p in out.parent.iterdir()] == ["monitoring.prom"]  # no temporary file left behind
    hour = f"{HOURS[81]:%Y-%m-%d-%H:%M}"
    assert main(["--config", str(delivery.path), "report", "--model", DELIVERY, "--from", hour]) == 0
    assert main(["--config", str(delivery.path), "report", "--model", "nope", "--from", hour]) == 2


def test_grafana_dashboard_reads_only_metrics_we_write() -> None:
    dashboard = json.loads((REPO_ROOT / "grafana" / "monitoring_pipeline.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"] if "expr" in t]
    exprs.append(dashboard["templating"]["list"][1]["query"])
    used = {m for e in exprs for m in re.findall(r"monitoring_pipeline_[a-z_]+", e)}
    assert used and used <= {PREFIX + name for name in HELP}, used - {PREFIX + n for n in HELP}
    assert {p["id"] for p in dashboard["panels"]} == set(range(1, len(dashboard["panels"]) + 1))
