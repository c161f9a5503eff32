"""The multiclass demo model (`ticket_router`) through the real pipeline: its stored confusion matrix and
macro F1 match an independent SQL join of the warehouse's predictions and labels, on the local store
and on S3; over the demo's 96 hours its documented incident (class surge) fails
`performance_within_margin` in exactly its hours, and CBPE tracks realized accuracy elsewhere."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.demo import INCIDENTS, TICKET_CLASSES
from monitoring_pipeline_tests.conftest import HOURS, demo_index, open_stores
from monitoring_pipeline_tests.helpers import query, run_pipeline
from monitoring_pipeline_tests.stores import Stores

TICKETS = "ticket_router"


def sql_confusion(config: MonitorsConfig) -> dict:
    """hour -> 3x3 counts [label][predicted], joined in SQL from the stored logs and the latest labels."""
    rows = query(
        config,
        "SELECT p.partition_hour, l.label, p.predicted_queue, count(*) "
        "FROM ticket_router.prediction_logs p JOIN ("
        "  SELECT prediction_id, arg_max(label, arrival_hour) AS label FROM main.labels GROUP BY 1"
        ") l ON p.prediction_id = l.prediction_id GROUP BY 1, 2, 3",
    )
    index = {c: i for i, c in enumerate(TICKET_CLASSES)}
    out: dict = {}
    for hour, label, predicted, n in rows:
        out.setdefault(hour, [[0] * 3 for _ in range(3)])[index[label]][index[predicted]] = n
    return out


def loop_macro_f1(matrix: list[list[int]]) -> float:
    f1 = []
    for c in range(3):
        tp = matrix[c][c]
        den = sum(matrix[c]) + sum(row[c] for row in matrix)
        if den:
            f1.append(2 * tp / den)
    return sum(f1) / len(f1)


def test_multiclass_performance_is_stored_on_each_store(stores: Stores) -> None:
    config = stores.config()
    assert run_pipeline(config, TICKETS, HOURS[10], HOURS[14]).success
    rows = query(
        config,
        "SELECT partition_hour, metric, metric_value, metric_se, macro_f1, accuracy, confusion, per_class, "
        "estimated_accuracy, estimated_macro_f1, calibration, log_loss FROM main.model_performance "
        "WHERE model = ? ORDER BY 1",
        [TICKETS],
    )
    assert [r[0] for r in rows] == HOURS[10:15]
    independent = sql_confusion(config)
    assert set(independent) == set(HOURS[10:14])  # the last hour's labels have not arrived yet (>= 1 h)
    last = rows.pop()
    assert last[4] is None and json.loads(last[6])["matrix"] == [[0] * 3] * 3 and last[8] is not None
    for hour, metric, value, se, macro, accuracy, confusion, per_class, est_acc, est_f1, calib, loss in rows:
        matrix = independent[hour]
        assert json.loads(confusion) == {"classes": list(TICKET_CLASSES), "matrix": matrix}
        assert metric == "macro_f1" and value == macro
        assert macro == pytest.approx(loop_macro_f1(matrix), abs=1e-12)
        assert accuracy == pytest.approx(sum(matrix[i][i] for i in range(3)) / sum(map(sum, matrix)))
        assert 0 < se < 0.5 and 0 < loss < math.log(3)
        classes = json.loads(per_class)
        assert set(classes) == set(TICKET_CLASSES)
        assert classes["account"]["support"] == sum(matrix[2])
        assert set(json.loads(calib)) == set(TICKET_CLASSES)  # one-vs-rest histograms, per class
        if hour > HOURS[10]:  # calibrated on the hours before it
            assert 0.5 < est_acc < 1 and 0.4 < est_f1 < 1 and "estimated_f1" in classes["billing"]
    checks = query(
        config,
        "SELECT c.partition_hour, c.observed, c.threshold, p.macro_f1, p.baseline_value "
        "FROM main.check_results c JOIN main.model_performance p USING (model, partition_hour) "
        "WHERE model = ? AND check_name = 'performance_within_margin'",
        [TICKETS],
    )
    assert len(checks) == 5  # the observed value is the hour's macro F1, the threshold its baseline
    assert all(observed == macro and threshold == base for _, observed, threshold, macro, base in checks)
    assert sum(observed is not None and threshold is not None for _, observed, threshold, _, _ in checks) == 3


@pytest.fixture(scope="module")
def demo_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MonitorsConfig]:
    """The multiclass model's whole pipeline over the demo's 96 hours (local store)."""
    with pytest.MonkeyPatch.context() as env:
        config = open_stores("local", request, tmp_path_factory.mktemp("tickets"), env).config()
        run_pipeline(config, TICKETS, HOURS[0], HOURS[-1])
        yield config


def test_class_surge_fails_the_performance_check_in_its_hours_only(demo_run: MonitorsConfig) -> None:
    incident = next(i for i in INCIDENTS if i.model == TICKETS)
    failed = query(
        demo_run,
        "SELECT partition_hour FROM main.check_results WHERE model = ? "
        "AND check_name = 'performance_within_margin' AND NOT passed",
        [TICKETS],
    )
    assert {demo_index(h) for (h,) in failed} == set(range(incident.first_hour, incident.last_hour + 1))
    judged = query(
        demo_run,
        "SELECT count(*) FROM main.check_results "
        "WHERE model = ? AND check_name = 'performance_within_margin'",
        [TICKETS],
    )
    assert judged == [(96,)]
    # the recall on the surging class is what fell
    recall = dict(
        (demo_index(h), json.loads(p)["account"]["recall"])
        for h, p in query(
            demo_run,
            "SELECT partition_hour, per_class FROM main.model_performance WHERE model = ?",
            [TICKETS],
        )
    )
    during = [recall[i] for i in range(incident.first_hour, incident.last_hour + 1)]
    before = [recall[i] for i in range(36, incident.first_hour)]
    assert max(during) < min(before)
    # the person on call reads which class, the figure and the baseline
    [(severity, observed, threshold, description)] = query(
        demo_run,
        "SELECT severity, observed, threshold, description FROM main.check_results WHERE model = ? "
        "AND check_name = 'performance_within_margin' AND partition_hour = ?",
        [TICKETS, HOURS[incident.first_hour]],
    )
    assert severity == "ERROR" and observed < threshold - 0.1
    assert f"macro_f1 {observed:.4g} vs baseline {threshold:.4g}" in description
    assert "lowest recall: account" in description


def test_cbpe_tracks_realized_accuracy_outside_the_incident(demo_run: MonitorsConfig) -> None:
    """On hours whose labels are all in (coverage >= 95 %) and which have a calibrated reference (from
    hour 2), outside the incident: |estimated - realized accuracy| < 3 binomial standard errors of the
    realized figure in at least 95 % of them (the demo's scores are calibrated by construction)."""
    incident = next(i for i in INCIDENTS if i.model == TICKETS)
    rows = query(
        demo_run,
        "SELECT partition_hour, accuracy, estimated_accuracy, labelled, label_coverage "
        "FROM main.model_performance WHERE model = ? AND estimated_accuracy IS NOT NULL",
        [TICKETS],
    )
    quiet = [r for r in rows if not incident.first_hour <= demo_index(r[0]) <= incident.last_hour + 24
             and r[4] >= 0.95 and demo_index(r[0]) >= 2]  # fmt: skip
    assert len(quiet) >= 50
    within = [abs(e - a) < 3 * math.sqrt(a * (1 - a) / n) for _, a, e, n, _ in quiet]
    assert sum(within) >= 0.95 * len(within)
