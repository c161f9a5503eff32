"""Build the Definitions from the monitors config: one asset group per model."""

from __future__ import annotations

import dagster as dg

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline.defs.assets import prediction_logs_asset
from monitoring_pipeline.defs.checks import prediction_logs_checks
from monitoring_pipeline.defs.drift_assets import (
    drift_metrics_asset,
    feature_profiles_asset,
    reference_data_spec,
    reference_profile_asset,
)
from monitoring_pipeline.resources.warehouse import WarehouseResource


def build_definitions(config: MonitorsConfig) -> dg.Definitions:
    assets: list = []
    asset_checks: list = []
    for model in config.models:
        asset_checks += prediction_logs_checks(model)
        assets += [
            prediction_logs_asset(model),
            feature_profiles_asset(model),
            reference_profile_asset(model),
            drift_metrics_asset(model),
        ]
        if model.reference.type == "file":
            assets.append(reference_data_spec(model))
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks,
        resources={"warehouse": WarehouseResource.from_config(config.warehouse)},
    )
