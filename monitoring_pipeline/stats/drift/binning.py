"""Shared binning for the tests that compare binned distributions (PSI, Jensen-Shannon, Hellinger,
chi-square): both sides are counted over the same bins.

Numerical: bins with (about) equal reference mass, cut at sketch-bucket boundaries chosen at the
reference's quantiles; values of the current sample outside the reference range fall in the first
or last bin. Categorical: one bin per category seen on either side (pooled "other" included; a
current category the reference does not name joins the reference's "other" when it has one).
"""

from __future__ import annotations

import numpy as np

from monitoring_pipeline.stats.profiles import OTHER, CategoricalProfile, NumericProfile, Profile
from monitoring_pipeline.stats.sketch import aligned_counts

EPSILON = 1e-4  # replaces an empty bin's proportion (PSI, KL-based scores) so logs stay finite


def binned_counts(ref: Profile, cur: Profile, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference counts, current counts) over shared bins."""
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        current = aligned_categories(ref, cur)
        categories = sorted(set(ref.counts) | set(current))
        return (
            np.array([ref.counts.get(c, 0) for c in categories], dtype=float),
            np.array([current.get(c, 0) for c in categories], dtype=float),
        )
    assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
    _, rc, cc = aligned_counts(ref.sketch, cur.sketch)
    cum = np.cumsum(rc) / max(rc.sum(), 1)
    # bucket i goes to bin floor(cum_before_i * n_bins): each bin holds ~1/n_bins of the reference
    before = np.concatenate([[0.0], cum[:-1]])
    bins = np.minimum((before * n_bins).astype(int), n_bins - 1)
    ref_bins = np.bincount(bins, weights=rc, minlength=n_bins)
    cur_bins = np.bincount(bins, weights=cc, minlength=n_bins)
    keep = (ref_bins + cur_bins) > 0
    return ref_bins[keep], cur_bins[keep]


def aligned_categories(ref: CategoricalProfile, cur: CategoricalProfile) -> dict[str, int]:
    """The current counts over the reference's categories: when the reference pooled its rare
    categories as `__other__`, a current category it does not name may be one of them, so it is
    counted there too (comparing it with a reference count of 0 would call every rare value new)."""
    if not ref.pooled:
        return dict(cur.counts)
    out: dict[str, int] = {}
    for c, v in cur.counts.items():
        key = c if c in ref.counts else OTHER
        out[key] = out.get(key, 0) + v
    return out


def proportions(counts: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
    total = counts.sum()
    p = counts / total if total else np.zeros_like(counts)
    return np.where(p == 0, epsilon, p) if epsilon else p
