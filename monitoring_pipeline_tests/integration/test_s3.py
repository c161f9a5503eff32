"""The same assets against a real S3-protocol HTTP server on loopback (moto's server mode), through
boto3 and DuckDB's httpfs exactly as against AWS: endpoint and credentials from the environment."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline.demo import seed_demo
from monitoring_pipeline.pipeline.ingest import IngestError, ingest_hour
from monitoring_pipeline.pipeline.profile_and_drift import profile_hour
from monitoring_pipeline.publish.prometheus import collect
from monitoring_pipeline.publish.reports import hour_report
from monitoring_pipeline.storage.object_store import CACHE, ObjectStoreError, S3ObjectStore
from monitoring_pipeline.storage.sql_session import query as sql_query
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import DEMO_END, HOURS, use_s3, write_config
from monitoring_pipeline_tests.helpers import materialize_logs, query, run_pipeline, warehouse_rows
from monitoring_pipeline_tests.s3 import BUCKET, S3Server

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS's standard environment variables, as a user pointing at MinIO or R2 would set them."""
    use_s3(s3_server, monkeypatch)
    return s3_server.endpoint


@pytest.fixture(scope="module")
def seeded_bucket(s3_server: S3Server) -> str:
    """The demo's first 48 hours of fraud_classifier (logs and labels), written through the S3 store."""
    with pytest.MonkeyPatch.context() as mp:
        use_s3(s3_server, mp)
        store = S3ObjectStore(f"s3://{BUCKET}/predictions")
        labels = S3ObjectStore(f"s3://{BUCKET}/labels")
        end = DEMO_END - timedelta(hours=48)  # HOURS[0:48], the same hours and incidents as the full demo
        seed_demo({"fraud_classifier": store}, end=end, hours=48, labels={"fraud_classifier": labels})
    return f"s3://{BUCKET}/predictions"


def client() -> Any:
    return boto3.session.Session().client("s3")


def s3_source_rows(model: str, hour) -> int:
    import io

    import pyarrow.parquet as pq

    s3 = client()
    prefix = f"predictions/{model}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"
    total = 0
    for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        total += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
    return total


def test_s3_logs_into_local_warehouse(tmp_path: Path, s3_env: str, seeded_bucket: str) -> None:
    config = load_config(write_config(tmp_path, seeded_bucket))
    hour = HOURS[40]
    expected = s3_source_rows("fraud_classifier", hour)
    assert expected > 1000
    result = materialize_logs(config, "fraud_classifier", hour)
    assert warehouse_rows(config, "fraud_classifier") == {hour: expected}
    [mat] = result.asset_materializations_for_node("fraud_classifier__prediction_logs")
    assert all(
        f.startswith(f"{seeded_bucket}/fraud_classifier/") for f in mat.metadata["source_objects"].value
    )
    materialize_logs(config, "fraud_classifier", hour)
    assert warehouse_rows(config, "fraud_classifier") == {hour: expected}


def test_s3_logs_and_s3_warehouse_for_runs_on_many_machines(
    tmp_path: Path, s3_env: str, s3_server: S3Server, seeded_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Partition files on S3 and the catalog's views read them through httpfs."""
    config: MonitorsConfig = load_config(
        write_config(tmp_path, seeded_bucket, data=f"s3://{BUCKET}/warehouse")
    )
    hours = HOURS[2:5]
    materialize_logs(config, "fraud_classifier", hours[0], hours[-1])
    materialize_logs(config, "fraud_classifier", hours[1])  # a re-run replaces the object
    expected = {h: s3_source_rows("fraud_classifier", h) for h in hours}
    assert warehouse_rows(config, "fraud_classifier") == expected
    keys = [o["Key"] for o in client().list_objects_v2(Bucket=BUCKET, Prefix="warehouse/")["Contents"]]
    assert sorted(keys) == [
        f"warehouse/prediction_logs/fraud_classifier/dt={h:%Y-%m-%d}/hour={h:%H}.parquet" for h in hours
    ]
    # the Prometheus figures read the newest hour's row count from its footer on S3
    wh = Warehouse.open(config.warehouse)
    samples = {(s.name, s.labels.get("model")): s.value for s in collect(config, wh)}
    assert samples[("rows", "fraud_classifier")] == expected[hours[-1]]
    assert samples[("last_partition_timestamp_seconds", "fraud_classifier")] == hours[-1].timestamp()
    assert s3_server.pipeline.secret not in caplog.text


def test_missing_and_empty_hours_on_s3(tmp_path: Path, s3_env: str, seeded_bucket: str) -> None:
    config = load_config(write_config(tmp_path, seeded_bucket))
    wh = Warehouse.open(config.warehouse)
    model = config.model("fraud_classifier")
    empty = ingest_hour(model, HOURS[30], S3ObjectStore(seeded_bucket), wh)
    missing = ingest_hour(model, HOURS[31], S3ObjectStore(seeded_bucket), wh)
    assert (empty.rows, len(empty.files), missing.rows, len(missing.files)) == (0, 2, 0, 0)


def test_unreadable_s3_object_is_named_by_its_uri(tmp_path: Path, s3_env: str, seeded_bucket: str) -> None:
    config = load_config(write_config(tmp_path, seeded_bucket))
    hour = HOURS[6]
    key = f"predictions/fraud_classifier/dt={hour:%Y-%m-%d}/hour={hour:%H}/replica-9.parquet"
    client().put_object(Bucket=BUCKET, Key=key, Body=b"garbage bytes")
    try:
        wh = Warehouse.open(config.warehouse)
        with pytest.raises(IngestError, match=f"object s3://{BUCKET}/{key}: not a readable Parquet"):
            ingest_hour(config.model("fraud_classifier"), hour, S3ObjectStore(seeded_bucket), wh)
    finally:
        client().delete_object(Bucket=BUCKET, Key=key)


def test_missing_bucket_is_a_clear_error(s3_env: str) -> None:
    with pytest.raises(ObjectStoreError, match="cannot list s3://no-such-bucket/"):
        S3ObjectStore("s3://no-such-bucket/logs").list("fraud_classifier/")


def test_head_and_fetch_file_on_s3(tmp_path: Path, s3_env: str, seeded_bucket: str) -> None:
    from monitoring_pipeline.storage.object_store import fetch_file

    store = S3ObjectStore(seeded_bucket)
    hour = HOURS[3]
    key = f"fraud_classifier/dt={hour:%Y-%m-%d}/hour={hour:%H}/replica-0.parquet"
    found = store.head(key)
    assert found is not None and found.size > 1000 and found.modified is not None
    assert store.head("fraud_classifier/nope.parquet") is None
    local = fetch_file(f"{seeded_bucket}/{key}")
    assert local.stat().st_size == found.size
    with pytest.raises(ObjectStoreError, match="no such object"):
        fetch_file(f"{seeded_bucket}/missing.parquet")


def _own_hour_labels(hour: datetime, n: int = 300) -> int:
    """Labels that land in the predictions' own hour (a fast label producer): n ids of the hour's logs."""
    s3 = client()
    prefix = f"predictions/fraud_classifier/dt={hour:%Y-%m-%d}/hour={hour:%H}/"
    key = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"][0]["Key"]
    ids = pq.read_table(
        io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()), columns=["prediction_id"]
    )
    labels = pa.table(
        {"prediction_id": ids.column(0).slice(0, n), "is_fraud": pa.array(["fraud", "legit"] * (n // 2))}
    )
    sink = io.BytesIO()
    pq.write_table(labels, sink)
    target = f"labels/fraud_classifier/dt={hour:%Y-%m-%d}/hour={hour:%H}/own-hour.parquet"
    s3.put_object(Bucket=BUCKET, Key=target, Body=sink.getvalue())
    return n


def _s3_config(tmp_path: Path, seeded_bucket: str, data: str, **kwargs: object) -> MonitorsConfig:
    return load_config(write_config(tmp_path, seeded_bucket, data=f"s3://{BUCKET}/{data}", **kwargs))


def test_the_whole_hourly_job_on_s3(
    tmp_path: Path, s3_env: str, s3_server: S3Server, seeded_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Logs, warehouse and labels on S3 with credentials enforced; every asset of the hourly job including
    the drift report and performance, with labels landing in the predictions' own hour (both failed on
    main: a downloaded copy shadowed another)."""
    config = _s3_config(tmp_path, seeded_bucket, "wh-full", labels=f"s3://{BUCKET}/labels")
    first, last = HOURS[18], HOURS[25]
    own = _own_hour_labels(last)
    result = run_pipeline(config, "fraud_classifier", first, last)
    assert result.success
    wh = Warehouse.open(config.warehouse)
    html = hour_report(config.model("fraud_classifier"), last, wh)
    assert "fraud_classifier - drift report" in html and "merchant_category" in html
    reports = client().list_objects_v2(Bucket=BUCKET, Prefix="wh-full/reports/fraud_classifier/")["Contents"]
    hourly = [r["Key"] for r in reports if "/dt=" in r["Key"]]
    assert len(hourly) == 8 and len(reports) == 9  # every hour of the run, and the run's window heat map
    perf = {
        r[0]: r[1:]
        for r in query(config, "SELECT partition_hour, labelled, predictions FROM main.model_performance")
    }
    assert set(perf) == set(HOURS[18:26])
    assert perf[last][0] >= own and perf[last][1] == s3_source_rows("fraud_classifier", last)
    drift = query(
        config, "SELECT count(DISTINCT feature) FROM main.drift_metrics WHERE partition_hour = ?", [last]
    )
    assert drift == [(len(config.model("fraud_classifier").monitored_columns),)]
    assert s3_server.pipeline.secret not in caplog.text


def test_one_hourly_run_reads_each_object_once(
    tmp_path: Path, s3_env: str, s3_server: S3Server, seeded_bucket: str
) -> None:
    """The server's request log: one hourly run (from ingest to report, labels and performance included)
    reads at most 1.5x the hour's source objects (logs and labels) plus its reference window's profile
    objects. The labels' id -> prediction-hour lookup reads the results store, not the window's logs (it
    read `max_delay_hours` of them on main)."""
    config = _s3_config(tmp_path, seeded_bucket, "wh-bytes", labels=f"s3://{BUCKET}/labels")
    hour = HOURS[30 + 10]
    model, wh = config.model("fraud_classifier"), Warehouse.open(config.warehouse)
    for earlier in HOURS[16:40]:  # the reference window, loaded and profiled (the work functions: fast)
        ingest_hour(model, earlier, S3ObjectStore(seeded_bucket), wh)
        profile_hour(model, earlier, wh)
    CACHE.clear()  # a new process: nothing read before
    mark = s3_server.log.mark()
    assert run_pipeline(config, "fraud_classifier", hour, hour).success
    s3 = client()

    def hour_objects(prefix: str) -> int:
        folder = f"{prefix}/fraud_classifier/dt={hour:%Y-%m-%d}/hour={hour:%H}/"
        return sum(o["Size"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=folder).get("Contents", []))

    source, labels = hour_objects("predictions"), hour_objects("labels")
    window = {  # the reference's hours: their profiles, whole and per segment (the model has segments)
        f"wh-bytes/{table}/fraud_classifier/dt={h:%Y-%m-%d}/hour={h:%H}.parquet"
        for h in (hour - timedelta(hours=k) for k in range(1, 25))
        for table in ("feature_profiles", "segment_profiles")
    }
    listed = [
        o
        for day in {key.rsplit("/", 1)[0] for key in window}
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=day + "/").get("Contents", [])
    ]
    profiles = sum(o["Size"] for o in listed if o["Key"] in window)
    read = s3_server.log.bytes_read(mark, f"/{BUCKET}/")
    print(f"bytes read {read}, logs {source}, labels {labels}, reference profiles {profiles}")  # with -s
    assert labels > 0 and 0 < read <= 1.5 * (source + labels + profiles), (read, source, labels, profiles)
    # and the lookup did its work: the hour's labels were matched to the earlier hours they belong to
    [(matched, earlier)] = query(
        config,
        "SELECT count(prediction_hour), count(DISTINCT prediction_hour) FILTER (prediction_hour < ?) "
        "FROM main.labels WHERE arrival_hour = ?",
        [hour, hour],
    )
    assert matched > 0 and earlier > 1


def test_denied_reads_are_errors_naming_the_uri(
    tmp_path: Path, s3_env: str, s3_server: S3Server, seeded_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 403 is never "no data": a report, a run and an analyst's session fail, naming the object."""
    config = _s3_config(tmp_path, seeded_bucket, "wh-denied", labels="")
    hour = HOURS[3]
    assert run_pipeline(config, "fraud_classifier", HOURS[1], hour).success
    CACHE.clear()
    for name, value in s3_server.no_get.env(s3_server.endpoint).items():
        monkeypatch.setenv(name, value)
    wh = Warehouse.open(config.warehouse)
    profile = (
        f"s3://{BUCKET}/wh-denied/feature_profiles/fraud_classifier/dt={hour:%Y-%m-%d}/hour={hour:%H}.parquet"
    )
    with pytest.raises(ObjectStoreError, match=re.escape(f"cannot download {profile}")):
        hour_report(config.model("fraud_classifier"), hour, wh)
    failed = run_pipeline(config, "fraud_classifier", hour, hour)
    assert not failed.success
    errors = " ".join(str(e.event_specific_data.error) for e in failed.all_events if e.is_step_failure)
    assert f"s3://{BUCKET}/" in errors and "403" in errors
    with pytest.raises(duckdb.Error, match="403"):
        wh.connect(["fraud_classifier"])


def test_the_sql_session_reads_s3_and_nothing_else(tmp_path: Path, s3_env: str, seeded_bucket: str) -> None:
    config = _s3_config(tmp_path, seeded_bucket, "wh-sql", labels="")
    materialize_logs(config, "fraud_classifier", HOURS[5])
    rows = query(config, "SELECT count(*) FROM fraud_classifier.prediction_logs")
    assert rows == [(s3_source_rows("fraud_classifier", HOURS[5]),)]
    outside = f"SELECT count(*) FROM read_parquet('s3://{BUCKET}/predictions/*/*/*/*.parquet')"
    with (
        Warehouse.open(config.warehouse).connect(["fraud_classifier"]) as conn,
        pytest.raises(duckdb.PermissionException),
    ):
        sql_query(conn, outside)
