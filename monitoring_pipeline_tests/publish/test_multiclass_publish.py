"""The multiclass model in the hour report (averages, per-class table, confusion matrix) and in the
Prometheus textfile (macro F1, its CBPE estimate, per-class figures), against the stored results, on
the demo's ticket_router as its class surge starts (hour 60)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline.publish.multiclass_report import multiclass_section
from monitoring_pipeline.publish.prometheus import PREFIX, collect, render
from monitoring_pipeline.publish.reports import hour_report
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS, write_config
from monitoring_pipeline_tests.helpers import query, run_pipeline
from monitoring_pipeline_tests.publish.test_reports_prometheus import parse

TICKETS = "ticket_router"


@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory, demo_logs: Path) -> MonitorsConfig:
    config = load_config(write_config(tmp_path_factory.mktemp("tickets"), str(demo_logs)))
    assert run_pipeline(config, TICKETS, HOURS[56], HOURS[63]).success
    return config


def cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each row's cells (th and td) of the table with that id."""
    table = html[html.index(f"<table id='{table_id}'>") :]
    table = table[: table.index("</table>")]
    rows = []
    for row in table.split("<tr")[1:]:
        page = parse("<tr" + row)
        rows.append([t.strip() for t in page.text if t.strip()])
    return rows


def test_hour_report_has_the_per_class_table_and_confusion_matrix(tickets: MonitorsConfig) -> None:
    wh = Warehouse.open(tickets.warehouse)
    html = hour_report(tickets.model(TICKETS), HOURS[61], wh)
    [(confusion, per_class, macro)] = query(
        tickets,
        "SELECT confusion, per_class, macro_f1 FROM main.model_performance WHERE model = ? "
        "AND partition_hour = ?",
        [TICKETS, HOURS[61]],
    )
    stored = json.loads(confusion)
    matrix = cells(html, "confusion")
    assert matrix[0] == [f"predicted {c}" for c in stored["classes"]]
    assert [[int(v) for v in row[1:]] for row in matrix[1:]] == stored["matrix"]
    rows = {r[0]: r for r in cells(html, "per-class")[1:]}
    figures = json.loads(per_class)
    assert set(rows) == set(figures)
    assert (
        rows["account"][4] == f"{figures['account']['recall']:.4g}"
    )  # class, support, predicted, precision, recall
    averages = {r[0]: r[1:] for r in cells(html, "multiclass-averages")[1:]}
    assert averages["macro_f1"][0] == f"{macro:.4g}"
    assert multiclass_section([{"confusion": None, "accuracy": 0.9}]) == ""  # a binary model's row


def test_prometheus_has_macro_f1_its_estimate_and_per_class_figures(tickets: MonitorsConfig) -> None:
    wh = Warehouse.open(tickets.warehouse)
    families = text_string_to_metric_families(render(collect(tickets, wh)))
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    stamp = value[(PREFIX + "performance_partition_timestamp_seconds", (("model", TICKETS),))]
    hour = next(h for h in HOURS if h.timestamp() == stamp)
    [(macro, estimated, per_class)] = query(
        tickets,
        "SELECT macro_f1, estimated_macro_f1, per_class FROM main.model_performance WHERE model = ? "
        "AND partition_hour = ?",
        [TICKETS, hour],
    )
    assert value[(PREFIX + "performance", (("metric", "macro_f1"), ("model", TICKETS)))] == macro
    assert (
        value[(PREFIX + "performance_estimated", (("metric", "macro_f1"), ("model", TICKETS)))] == estimated
    )
    recall = json.loads(per_class)["account"]["recall"]
    key = (PREFIX + "performance_per_class", (("class", "account"), ("metric", "recall"), ("model", TICKETS)))
    assert value[key] == pytest.approx(recall, abs=1e-12)
