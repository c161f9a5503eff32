"""The same assets against a real S3-protocol HTTP server on loopback (moto's server mode), through
boto3 and DuckDB's httpfs exactly as against AWS: endpoint and credentials from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from monitoring_pipeline.config import MonitorsConfig, load_config
from monitoring_pipeline.demo import seed_demo
from monitoring_pipeline.ingest import IngestError, ingest_hour
from monitoring_pipeline.metrics import collect
from monitoring_pipeline.storage.object_store import ObjectStoreError, S3ObjectStore
from monitoring_pipeline.storage.warehouse import Warehouse
from monitoring_pipeline_tests.conftest import DEMO_END, HOURS, write_config
from monitoring_pipeline_tests.helpers import free_port, materialize_logs, warehouse_rows

pytestmark = pytest.mark.integration
BUCKET = "serving-logs"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS's standard environment variables, as a user pointing at MinIO or R2 would set them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-do-not-log")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_endpoint


@pytest.fixture(scope="module")
def seeded_bucket(s3_endpoint: str) -> str:
    """The demo's first 8 hours of both models, written through the S3 store (boto3)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", s3_endpoint)
        mp.setenv("AWS_ACCESS_KEY_ID", "test-key")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-do-not-log")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        store = S3ObjectStore(f"s3://{BUCKET}/predictions")
        seed_demo({"fraud_classifier": store}, end=DEMO_END, hours=96)
    return f"s3://{BUCKET}/predictions"


def s3_source_rows(model: str, hour) -> int:
    import io

    import pyarrow.parquet as pq

    client = boto3.client("s3")
    prefix = f"predictions/{model}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"
    total = 0
    for item in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
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
    tmp_path: Path, s3_env: str, seeded_bucket: str, caplog: pytest.LogCaptureFixture
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
    keys = [
        o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="warehouse/")["Contents"]
    ]
    assert sorted(keys) == [
        f"warehouse/prediction_logs/fraud_classifier/dt={h:%Y-%m-%d}/hour={h:%H}.parquet" for h in hours
    ]
    # the Prometheus figures read the newest hour's row count from its footer on S3
    wh = Warehouse.open(config.warehouse)
    samples = {(s.name, s.labels.get("model")): s.value for s in collect(config, wh)}
    assert samples[("rows", "fraud_classifier")] == expected[hours[-1]]
    assert samples[("last_partition_timestamp_seconds", "fraud_classifier")] == hours[-1].timestamp()
    assert "test-secret-do-not-log" not in caplog.text


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
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"garbage bytes")
    try:
        wh = Warehouse.open(config.warehouse)
        with pytest.raises(IngestError, match=f"object s3://{BUCKET}/{key}: not a readable Parquet"):
            ingest_hour(config.model("fraud_classifier"), hour, S3ObjectStore(seeded_bucket), wh)
    finally:
        boto3.client("s3").delete_object(Bucket=BUCKET, Key=key)


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
    local = fetch_file(f"{seeded_bucket}/{key}", tmp_path)
    assert local.stat().st_size == found.size
    with pytest.raises(ObjectStoreError, match="no such object"):
        fetch_file(f"{seeded_bucket}/missing.parquet", tmp_path)
