"""Drift tests: importing this package registers every test module."""

from monitoring_pipeline.stats.drift import chisquare, hellinger, jensenshannon, ks, psi, wasserstein
from monitoring_pipeline.stats.drift.base import REGISTRY, StatTest, UnknownDriftTestError, get_test
from monitoring_pipeline.stats.drift.decision import (
    AUTO_TESTS,
    DEFAULT_ALPHA,
    DriftSummary,
    FeatureDrift,
    choose_test,
    evaluate_feature,
    summarize,
)

__all__ = [
    "AUTO_TESTS",
    "DEFAULT_ALPHA",
    "REGISTRY",
    "DriftSummary",
    "FeatureDrift",
    "StatTest",
    "UnknownDriftTestError",
    "chisquare",
    "choose_test",
    "evaluate_feature",
    "get_test",
    "hellinger",
    "jensenshannon",
    "ks",
    "psi",
    "summarize",
    "wasserstein",
]
