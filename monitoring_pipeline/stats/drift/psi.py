"""Population Stability Index: sum over bins of (cur - ref) * ln(cur / ref), proportions over 10
reference-quantile bins (numerical) or the categories. Common reading: < 0.1 stable, 0.1-0.2
moderate, >= 0.2 a significant shift. Empty bins: a proportion of 0 is replaced by EPSILON = 1e-4."""

from __future__ import annotations

import numpy as np

from monitoring_pipeline.stats.drift.base import StatOutcome, StatTest, register
from monitoring_pipeline.stats.drift.binning import EPSILON, binned_counts, proportions
from monitoring_pipeline.stats.drift.significance import significance
from monitoring_pipeline.stats.profiles import Profile


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float = EPSILON) -> float:
    r, c = proportions(ref_counts, epsilon), proportions(cur_counts, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def _psi(ref: Profile, cur: Profile) -> StatOutcome:
    return StatOutcome(score=psi(*binned_counts(ref, cur, n_bins=10)), p_value=significance(ref, cur))


PSI = register(
    StatTest(
        "psi",
        frozenset({"numerical", "categorical"}),
        "distance",
        0.2,
        _psi,
        "Population Stability Index over 10 reference-quantile bins or the categories",
    )
)
