"""The Grafana dashboard's history panels run, as Grafana's PostgreSQL data source would send them (macros
expanded), against a real PostgreSQL results store, and return the rows written."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from monitoring_pipeline.config import REPO_ROOT
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.results import ResultsStore, engine_for

HOUR = datetime(2026, 11, 20, 5, tzinfo=UTC)


def expand(sql: str) -> str:
    """Grafana's macros for a 2-day range and the model variable set to one model."""
    sql = sql.replace("${model:sqlstring}", "'fraud_classifier'")
    return re.sub(
        r"\$__timeFilter\((\w+)\)",
        r"\1 BETWEEN '2026-11-19T00:00:00Z' AND '2026-11-21T00:00:00Z'",
        sql,
    )


def test_history_panels_query_the_results_store(postgres_results_url: str) -> None:
    store = ResultsStore(postgres_results_url)
    rows = [
        {"model": "fraud_classifier", "partition_hour": HOUR + timedelta(hours=k), "feature": "amount",
         "score": 0.02 * k, "threshold": 0.05}
        for k in range(3)
    ]  # fmt: skip
    store.upsert(catalog.drift_metrics, [*rows, {**rows[0], "model": "other"}])
    check = {"model": "fraud_classifier", "check_name": "hour_is_not_empty", "partition_hour": HOUR}
    store.upsert(
        catalog.check_results,
        [check | {"passed": False}, check | {"check_name": "schema_matches", "passed": True}],
    )
    dashboard = json.loads((REPO_ROOT / "grafana" / "monitoring_pipeline.json").read_text())
    sql = {p["id"]: t["rawSql"] for p in dashboard["panels"] for t in p["targets"] if "rawSql" in t}
    assert set(sql) == {10, 11}
    with engine_for(store.url, write=False).connect() as conn:
        drift = conn.execute(sa.text(expand(sql[10]))).all()
        failures = conn.execute(sa.text(expand(sql[11]))).all()
    assert [(t, m, round(v, 9)) for t, m, v in drift] == [
        (HOUR + timedelta(hours=k), "fraud_classifier amount", round(0.4 * k, 9)) for k in range(3)
    ]
    assert sorted((m, v) for _, m, v in failures) == [("hour_is_not_empty", 1), ("schema_matches", 0)]
