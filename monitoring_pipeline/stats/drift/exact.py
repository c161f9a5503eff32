"""Exact small-count tests shared by the mass-based comparisons (tails, point mass, unseen categories).

`excess_p_value` is the one-sided Fisher exact test of a 2 x 2 table: the current sample has `k` of
its `m` values in some set, the reference `r` of its `n`. Under "same distribution" the current's
count, given the total k + r, is hypergeometric, so the p-value is P(X >= k) for X ~ Hypergeom(n + m,
k + r, m): the chance of at least that many in the current sample. It is exact at any size, treats
the reference as the sample it is (a binomial test against the reference share would treat it as
the truth), and equals `scipy.stats.fisher_exact([[k, m - k], [r, n - r]], alternative="greater")`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom


def excess_p_value(k: np.ndarray | int, m: int, r: np.ndarray | int, n: int) -> np.ndarray:
    """P(current count >= k) under no change; vectorized over k and r (same shapes)."""
    k, r = np.asarray(k, dtype=np.int64), np.asarray(r, dtype=np.int64)
    return np.clip(hypergeom.sf(k - 1, n + m, k + r, m), 0.0, 1.0)


def percent(share: float) -> str:
    """A share as people read it: 3.1 %, 0.01 %, 0.0004 %."""
    value = 100 * share
    if value == 0:
        return "0 %"
    if abs(value) >= 1:
        return f"{value:.1f} %"
    return f"{value:.2g} %"


def number(value: float) -> str:
    return f"{value:.4g}"
