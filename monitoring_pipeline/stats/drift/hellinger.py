"""Hellinger distance in [0, 1]: sqrt(1 - sum(sqrt(p * q))), over 20 reference-quantile bins
(numerical) or the categories. 0: identical, 1: no overlap."""

from __future__ import annotations

import numpy as np

from monitoring_pipeline.stats.drift.base import StatOutcome, StatTest, register
from monitoring_pipeline.stats.drift.binning import binned_counts, proportions
from monitoring_pipeline.stats.drift.significance import significance
from monitoring_pipeline.stats.profiles import Profile


def hellinger(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    p, q = proportions(ref_counts), proportions(cur_counts)
    return float(np.sqrt(max(1.0 - np.sum(np.sqrt(p * q)), 0.0)))


def _hellinger(ref: Profile, cur: Profile) -> StatOutcome:
    return StatOutcome(score=hellinger(*binned_counts(ref, cur, n_bins=20)), p_value=significance(ref, cur))


HELLINGER = register(
    StatTest(
        "hellinger",
        frozenset({"numerical", "categorical"}),
        "distance",
        0.1,
        _hellinger,
        "Hellinger distance, significance-gated",
    )
)
