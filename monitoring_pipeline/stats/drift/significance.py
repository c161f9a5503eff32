"""The significance gate shared by distance tests: KS for numerical features, the test of
homogeneity for categorical ones, with Cressie and Read's statistic (lambda = 2/3), which keeps its
stated false-alarm rate in small hours where Pearson's does not (chisquare.py)."""

from __future__ import annotations

from monitoring_pipeline.stats.drift.binning import binned_counts
from monitoring_pipeline.stats.drift.chisquare import CRESSIE_READ, homogeneity
from monitoring_pipeline.stats.drift.ks import ks_from_profiles
from monitoring_pipeline.stats.profiles import NumericProfile, Profile


def significance(ref: Profile, cur: Profile) -> float:
    if isinstance(ref, NumericProfile):
        return ks_from_profiles(ref, cur)[1]
    return homogeneity(*binned_counts(ref, cur, n_bins=10), power=CRESSIE_READ)[2]
