"""Dagster entry point: the monitors file (MONITORING_CONFIG, default ./monitors.yaml) -> Definitions."""

from monitoring_pipeline.config import load_config
from monitoring_pipeline.defs.factory import build_definitions

defs = build_definitions(load_config())
