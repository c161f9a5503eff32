"""The warehouse as a Dagster resource: where partition files go and where the catalog lives."""

from __future__ import annotations

import dagster as dg

from monitoring_pipeline.config import WarehouseConfig
from monitoring_pipeline.storage.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """Partition files under `tables_root` (a folder or s3://bucket/prefix) and the DuckDB catalog of
    views over them at `catalog_path`."""

    catalog_path: str
    tables_root: str

    @classmethod
    def from_config(cls, config: WarehouseConfig) -> WarehouseResource:
        return cls(catalog_path=config.catalog_path, tables_root=config.tables_root)

    def get(self) -> Warehouse:
        return Warehouse(self.catalog_path, self.tables_root)
