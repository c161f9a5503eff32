"""The warehouse as a Dagster resource: where partition files go and where the catalog lives."""

from __future__ import annotations

import os

import dagster as dg

from monitoring_pipeline.config import RESULTS_ENV, WarehouseConfig
from monitoring_pipeline.storage.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """Per-hour objects under `tables_root` (a folder or s3://bucket/prefix) and row-level results in the
    results store `results` (a SQLite file, or a PostgreSQL URL taken from the environment)."""

    results: str
    tables_root: str

    @classmethod
    def from_config(cls, config: WarehouseConfig) -> WarehouseResource:
        # a URL with a password must not land in Dagster's run config: it is read from the env instead
        results = dg.EnvVar(RESULTS_ENV) if os.environ.get(RESULTS_ENV) else config.results
        return cls(results=results, tables_root=config.tables_root)

    def get(self) -> Warehouse:
        """A warehouse for the step that asks (its listings are taken once: Warehouse.for_step)."""
        return Warehouse.for_step(self.results, self.tables_root)
