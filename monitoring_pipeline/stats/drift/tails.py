"""Tail test: the share of current values beyond the reference's extreme edges, widened.

The edges are the reference's q and 1 - q quantiles, q = max(TAIL_QUANTILE, TAIL_MIN_REFERENCE / n):
p0.01 / p99.99 for a 500k-row reference, and never so far out that fewer than 20 reference values
define one (a few outliers in the reference cannot blind it). Each edge is then pushed out by
TAIL_MARGIN of the span between them, so a hard-edged feature whose spread grows by a few percent
(trivial) does not spill over it, while values moved far out do: a unit bug on some rows, a
subpopulation moved beyond anything the reference saw. Both samples are counted exactly at sketch
bucket bounds, so the expected share is the reference's own share beyond the edges and the test is
exact (`exact.excess_p_value`), at any hour size. KS cannot see 5 % of rows moved (its D is 0.05,
the noise level of a 200-row hour), however far they went.
"""

from __future__ import annotations

import numpy as np

from monitoring_pipeline.stats.drift.base import Finding
from monitoring_pipeline.stats.drift.exact import excess_p_value, number, percent
from monitoring_pipeline.stats.sketch import bucket_bounds

TAIL_QUANTILE = 1e-4
TAIL_MIN_REFERENCE = 20
TAIL_MARGIN = 0.05  # each edge moves out by 5 % of the span between the two edges
TAIL_MIN_EXCESS = 0.01  # the tails gaining under 1 % of the hour's values is too small to matter


def tail_finding(keys: np.ndarray, rc: np.ndarray, cc: np.ndarray) -> Finding:
    """Over aligned bucket counts (keys ascending by value)."""
    n, m = int(rc.sum()), int(cc.sum())
    q = max(TAIL_QUANTILE, TAIL_MIN_REFERENCE / n)
    lows, highs = bucket_bounds(keys)
    ref_cum = np.cumsum(rc)
    upper = highs[int(np.searchsorted(ref_cum, n - q * n, side="left"))]
    lower = lows[int(np.searchsorted(ref_cum - rc, q * n, side="right")) - 1]
    margin = TAIL_MARGIN * (upper - lower)
    above = lows >= upper + margin  # whole buckets beyond the widened edges
    below = highs <= lower - margin
    k_up, k_down = int(cc[above].sum()), int(cc[below].sum())
    r = int(rc[above].sum() + rc[below].sum())
    k = k_up + k_down
    excess = k / m - r / n
    words = (
        f"{percent(k / m)} of values beyond the reference's extremes [{number(lower - margin)}, "
        f"{number(upper + margin)}] ({percent(k_down / m)} below, {percent(k_up / m)} above; "
        f"reference: {percent(r / n)})"
    )
    return Finding("tails", max(excess, 0.0), TAIL_MIN_EXCESS, float(excess_p_value(k, m, r, n)), words)


TRUNCATION_FLOOR = 0.05  # the hour stopping short of 5 % of the reference's mass: a cap, not chance


def truncation_finding(keys: np.ndarray, rc: np.ndarray, cc: np.ndarray) -> Finding:
    """The hour's values stop short of the reference's range: the share of the reference beyond the
    current maximum (or below the minimum), whichever is larger. Values capped at the reference p90
    leave 10 % of the reference above the hour's maximum; a 200-row hour of the same distribution
    leaves about 1 / 201.

    Exact and distribution-free: R, the number of reference values above the current maximum, is at
    least r exactly when the r largest values of the pooled sample are all the reference's, so
    P(R >= r) = C(n, r) / C(n + m, r): the one-sided Fisher test of r of n reference values against
    none of the m current ones (`excess_p_value(r, n, 0, m)`). Counted at sketch buckets, the
    reference values sharing the current extreme's bucket are not counted (conservative). The side
    is picked after looking, hence the p-value times 2."""
    n, m = int(rc.sum()), int(cc.sum())
    present = np.flatnonzero(cc)
    if present.size == 0:
        return Finding("truncation", 0.0, TRUNCATION_FLOOR, 1.0, "no current values")
    first, last = int(present[0]), int(present[-1])
    lows, highs = bucket_bounds(keys)
    sides = (
        (int(rc[last + 1 :].sum()), "above", highs[last]),
        (int(rc[:first].sum()), "below", lows[first]),
    )
    r, side, edge = max(sides, key=lambda s: s[0])
    p = min(1.0, 2 * float(excess_p_value(r, n, 0, m)))
    words = (
        f"no value {side} {number(edge)}, where the reference had {percent(r / n)} of its values: "
        "capped or clipped upstream?"
    )
    return Finding("truncation", r / n, TRUNCATION_FLOOR, p, words)
