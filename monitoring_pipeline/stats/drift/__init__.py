"""Drift tests: importing this package registers every test module."""

from monitoring_pipeline.stats.drift import battery, chisquare, hellinger, jensenshannon, ks, psi, wasserstein
from monitoring_pipeline.stats.drift.base import REGISTRY, StatTest, UnknownDriftTestError, get_test
from monitoring_pipeline.stats.drift.decision import (
    AUTO_TESTS,
    DEFAULT_ALPHA,
    DriftColumn,
    DriftSummary,
    FeatureDrift,
    choose_test,
    evaluate_feature,
    evaluate_hour,
    no_reference,
    summarize,
)

__all__ = [
    "AUTO_TESTS",
    "DEFAULT_ALPHA",
    "REGISTRY",
    "DriftColumn",
    "DriftSummary",
    "FeatureDrift",
    "StatTest",
    "UnknownDriftTestError",
    "battery",
    "chisquare",
    "choose_test",
    "evaluate_feature",
    "evaluate_hour",
    "get_test",
    "hellinger",
    "jensenshannon",
    "ks",
    "no_reference",
    "psi",
    "summarize",
    "wasserstein",
]
