"""Where prediction logs and labels are read from, as a Dagster resource (the UI lists the assets and
sensors that use it; a test or a deployment can give another)."""

from __future__ import annotations

import dagster as dg

from monitoring_pipeline.storage.object_store import ObjectStore, open_store


class ObjectStoreResource(dg.ConfigurableResource):
    """A model's locations are a folder or `s3://bucket/prefix` (from the monitors config). S3's endpoint
    and credentials come from the environment (boto3's chain, `AWS_ENDPOINT_URL`), never from run
    config, so no secret lands in Dagster's database."""

    def open(self, location: str) -> ObjectStore:
        return open_store(location)
