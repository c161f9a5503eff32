"""The significance gate shared by distance tests: KS for numerical features, the test of
homogeneity for categorical ones, with Cressie and Read's statistic (lambda = 2/3), which keeps its
stated false-alarm rate in small hours where Pearson's does not, over the fine table and the head of
the categories (chisquare.ladder), the same as the `auto` battery's."""

from __future__ import annotations

from monitoring_pipeline.stats.drift.binning import binned_counts
from monitoring_pipeline.stats.drift.chisquare import ladder
from monitoring_pipeline.stats.drift.ks import ks_from_profiles
from monitoring_pipeline.stats.profiles import NumericProfile, Profile


def significance(ref: Profile, cur: Profile) -> float:
    if isinstance(ref, NumericProfile):
        return ks_from_profiles(ref, cur)[1]
    return ladder(*binned_counts(ref, cur, n_bins=10))[0]
