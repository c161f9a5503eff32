"""Build the Definitions from the monitors config: one asset group per model."""

from __future__ import annotations

import dagster as dg

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.defs.assets import prediction_logs_asset
from monitoring_pipeline.resources.warehouse import WarehouseResource


def build_definitions(config: MonitorsConfig) -> dg.Definitions:
    assets = [prediction_logs_asset(model) for model in config.models]
    return dg.Definitions(
        assets=assets, resources={"warehouse": WarehouseResource.from_config(config.warehouse)}
    )
