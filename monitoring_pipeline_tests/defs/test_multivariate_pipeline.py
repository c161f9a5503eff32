"""Multivariate drift materialized through Dagster, on the local store and on S3: a correlation reversed
in one hour, every column's values unchanged, alarms there (and only there) while the univariate drift
stays quiet; row samples are published per hour and feed later hours' references; the check's
evaluation, the report and the Prometheus series carry the figures."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.publish.prometheus import collect
from monitoring_pipeline.publish.reports import hour_report
from monitoring_pipeline.storage import catalog
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import HOURS
from monitoring_pipeline_tests.helpers import query, run_pipeline
from monitoring_pipeline_tests.stores import Stores

pytestmark = pytest.mark.heavy(90)

FRAUD = "fraud_classifier"
RUN = HOURS[:10]
INCIDENT = 9  # account_age_days paired against amount in reverse: a join that misaligned the columns


def _paired(table: pa.Table, reverse: bool) -> pa.Table:
    """account_age_days' own values, reordered so their ranks follow amount's (or run against them):
    the two columns become correlated, and each column keeps exactly its values."""
    amount = table.column("amount").to_numpy()
    ages = np.sort(table.column("account_age_days").to_numpy())
    ranks = np.argsort(np.argsort(-amount if reverse else amount, kind="stable"), kind="stable")
    index = table.schema.get_field_index("account_age_days")
    return table.set_column(index, "account_age_days", pa.array(ages[ranks]))


def _correlated_logs(stores: Stores) -> str:
    """The demo's first hours of the fraud model with amount and account_age_days rank-correlated, the
    correlation reversed in the incident hour."""
    logs = f"{stores.root}/logs"
    for i, hour in enumerate(RUN):
        for obj in stores.hour_objects(stores.demo, FRAUD, hour):
            table = pq.read_table(io.BytesIO(stores.read(stores.demo, obj.key)))
            out = io.BytesIO()
            pq.write_table(_paired(table, reverse=i == INCIDENT), out)
            stores.put(logs, obj.key, out.getvalue())
    return logs


def _by_hour(config: MonitorsConfig, sql: str) -> dict[int, tuple]:
    rows = query(config, sql, [FRAUD])
    return {RUN.index(r[0]): r[1:] for r in rows}


def test_a_reversed_correlation_alarms_on_the_local_store_and_s3(stores: Stores) -> None:
    config = stores.config(_correlated_logs(stores), labels="")
    cfg = config.model(FRAUD).multivariate
    result = run_pipeline(config, FRAUD, RUN[0], RUN[-1])
    assert result.success

    mv = _by_hour(
        config,
        "SELECT partition_hour, status, drifted, reconstruction_error, lower_threshold, upper_threshold, "
        "reference_hours, rows FROM main.multivariate_drift WHERE model = ?",
    )
    assert sorted(mv) == list(range(10))
    # an hour's reference is the hours before it: judged from min_reference_hours on
    assert all(mv[i][0] == "no_reference" and mv[i][5] == i for i in range(cfg.min_reference_hours))
    assert [mv[i][0] for i in range(cfg.min_reference_hours, 10)] == ["ok"] * 3 + ["drift"]
    _, drifted, error, low, high, hours, rows = mv[INCIDENT]
    assert drifted and error > high and hours == INCIDENT
    assert rows == sum(
        pq.read_metadata(io.BytesIO(stores.read(f"{stores.root}/logs", o.key))).num_rows
        for o in stores.hour_objects(f"{stores.root}/logs", FRAUD, RUN[INCIDENT])
    )

    # every column alone is unchanged: the per-feature drift stays quiet in the incident hour
    drifted_features = query(
        config,
        "SELECT feature FROM main.drift_metrics WHERE model = ? AND partition_hour = ? AND drifted",
        [FRAUD, RUN[INCIDENT]],
    )
    assert drifted_features == []

    checks = _by_hour(
        config,
        "SELECT partition_hour, passed, severity, observed, threshold FROM main.check_results "
        "WHERE model = ? AND check_name = 'multivariate_drift_within_band'",
    )
    assert [i for i, c in checks.items() if not c[0]] == [INCIDENT]
    assert checks[INCIDENT][1:] == ("WARN", pytest.approx(error), pytest.approx(high))
    evaluations = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "multivariate_drift_within_band" and not e.passed
    ]
    assert len(evaluations) == 1
    metadata = evaluations[0].metadata
    assert metadata["upper_threshold"].value == pytest.approx(high)
    assert metadata["lower_threshold"].value == pytest.approx(low)
    assert metadata["observed"].value == pytest.approx(error)

    # each hour published its sample, at most sample_rows rows of the declared features
    wh = Warehouse.open(config.warehouse)
    samples = wh.fetch_hours(catalog.row_samples, FRAUD, RUN)
    assert sorted(samples) == RUN
    for path in samples.values():
        sample = pq.read_table(path)
        assert 0 < sample.num_rows <= cfg.sample_rows
        assert sample.column_names == [c.name for c in config.model(FRAUD).features]

    page = hour_report(config.model(FRAUD), RUN[INCIDENT], wh)
    assert "id='multivariate' data-status='drift'" in page
    series = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in collect(config, wh)}
    assert series[("multivariate_drifted", (("model", FRAUD),))] == 1
    assert series[("multivariate_threshold", (("bound", "upper"), ("model", FRAUD)))] == pytest.approx(high)


def test_a_reference_hour_never_sampled_is_sampled_from_its_logs(stores: Stores) -> None:
    """Hours processed before multivariate drift existed have no sample: the next hour's reference draws
    one from their logs (and publishes it), bounded by the window."""
    config = stores.config(labels="")
    first = run_pipeline(config, FRAUD, RUN[0], RUN[7])  # every asset, then forget the samples
    assert first.success
    wh = Warehouse.open(config.warehouse)
    for hour in RUN[:8]:
        wh.store.delete(catalog.row_samples.key(FRAUD, hour))
    assert wh.hours_present(catalog.row_samples, FRAUD, RUN[:8]) == set()
    assert run_pipeline(config, FRAUD, RUN[8], RUN[8]).success
    assert Warehouse.open(config.warehouse).hours_present(catalog.row_samples, FRAUD, RUN[:9]) == set(RUN[:9])
    [(status, hours)] = query(
        config,
        "SELECT status, reference_hours FROM main.multivariate_drift WHERE model = ? AND partition_hour = ?",
        [FRAUD, RUN[8]],
    )
    assert (status, hours) == ("ok", 8)


def test_a_file_reference_is_fitted_on_a_sample_of_the_file(stores: Stores) -> None:
    config = stores.config(labels="")
    delivery = "delivery_time_regressor"
    assert config.model(delivery).reference.type == "file"
    assert run_pipeline(config, delivery, HOURS[0], HOURS[1]).success
    rows = query(
        config,
        "SELECT status, reference_hours, reference_rows, reference_window, components FROM "
        "main.multivariate_drift WHERE model = ? ORDER BY partition_hour",
        [delivery],
    )
    assert len(rows) == 2
    chunks = config.model(delivery).multivariate.file_chunks
    for status, hours, ref_rows, window, components in rows:
        assert status == "ok" and hours == chunks and ref_rows > 0 and components >= 1
        assert window.startswith("file ") and f"{chunks} chunks" in window
