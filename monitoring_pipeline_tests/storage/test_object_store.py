"""The object store's process-wide parts, without a server."""

from __future__ import annotations

import pytest

from monitoring_pipeline.storage.object_store import make_s3_client


def test_one_s3_client_per_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 clients are built once per process and environment (0.3 s each, 20 per S3 run before): the
    same settings share one, other credentials or another endpoint get their own."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    first = make_s3_client()
    assert make_s3_client() is first
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "second-secret")
    second = make_s3_client()
    assert second is not first and second.meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:10")
    assert make_s3_client().meta.endpoint_url == "http://127.0.0.1:10"
