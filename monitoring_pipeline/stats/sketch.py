"""A mergeable, data-independent histogram for numerical features (log-spaced buckets, as DDSketch).

Every finite value x falls in bucket `key(x)`:
    sign(x) * (ceil(ln(max(|x|, ZERO_BAND)) / ln GAMMA) + OFFSET)
(0 for x = 0; all 0 < |x| <= ZERO_BAND share the innermost bucket on their side)
so a positive bucket k covers (GAMMA^(k-OFFSET-1), GAMMA^(k-OFFSET)]: a relative width of 2 * ALPHA.
The buckets depend on no data, so every hour's sketch uses the same edges and the sketch of any
window is the bucket-wise sum of its hours (no stored reference edges, no re-reading raw logs).
Keys are monotonic in x, so a CDF evaluated at bucket edges is exact. Each bucket also keeps the
count, sum, sum of squared deviations from its own mean (M2), min and max of its values, which
makes the mean and variance exact (merged with Chan's formula, stable even when the mean dwarfs
the spread) and puts each quantile inside the right bucket (relative error <= 2 * ALPHA).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
INV_LN_GAMMA = 1 / math.log(GAMMA)
ZERO_BAND = 1e-12
OFFSET = 1400  # makes every key of x > 0 positive (ln(1e-12) / ln(GAMMA) > -1368)


def bucket_keys(values: np.ndarray) -> np.ndarray:
    """The bucket key of each finite value (the numpy twin of the SQL in storage/profile_sql.py)."""
    values = np.asarray(values, dtype=float)
    magnitude = np.abs(values)
    with np.errstate(divide="ignore"):
        keys = np.ceil(np.log(np.maximum(magnitude, ZERO_BAND)) * INV_LN_GAMMA) + OFFSET
    return (np.sign(values) * keys).astype(np.int64)


@dataclass(frozen=True)
class NumericSketch:
    """Per-bucket statistics, sorted by key. Arrays are read-only by convention."""

    keys: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    m2s: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @property
    def means(self) -> np.ndarray:
        """The mean of each bucket: where its mass sits (exact for repeated values)."""
        return self.sums / np.maximum(self.counts, 1)

    def moments(self) -> tuple[float, float]:
        """(mean, population variance) computed stably: within-bucket then between-bucket variance."""
        n = self.total
        if n == 0:
            return math.nan, math.nan
        mean = float(self.sums.sum() / n)
        m2 = float(self.m2s.sum() + np.sum(self.counts * (self.means - mean) ** 2))
        return mean, m2 / n

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """Quantiles (linear interpolation on ranks, like numpy's default) placed inside the bucket
        between its observed min and max; exact when a bucket holds one distinct value."""
        n = self.total
        if n == 0:
            return [math.nan for _ in qs]
        upper = np.cumsum(self.counts)  # rank (1-based) of each bucket's last value
        out = []
        for q in qs:
            rank = q * (n - 1) + 1
            i = int(np.searchsorted(upper, rank, side="left"))
            i = min(i, len(upper) - 1)
            first = upper[i] - self.counts[i] + 1
            span = self.counts[i] - 1
            frac = 0.0 if span == 0 else (rank - first) / span
            out.append(float(self.mins[i] + min(max(frac, 0.0), 1.0) * (self.maxs[i] - self.mins[i])))
        return out


def empty_sketch() -> NumericSketch:
    z = np.zeros(0)
    return NumericSketch(z.astype(np.int64), z.astype(np.int64), z, z, z, z)


def sketch_from_values(values: np.ndarray) -> NumericSketch:
    """Build a sketch from raw values (non-finite values are dropped: count them before)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return empty_sketch()
    keys = bucket_keys(values)
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    uniq, starts, counts = np.unique(keys, return_index=True, return_counts=True)
    sums = np.add.reduceat(values, starts)
    deviations = values - np.repeat(sums / counts, counts)
    return NumericSketch(
        keys=uniq,
        counts=counts.astype(np.int64),
        sums=sums,
        m2s=np.add.reduceat(deviations * deviations, starts),
        mins=np.minimum.reduceat(values, starts),
        maxs=np.maximum.reduceat(values, starts),
    )


def merge_sketches(sketches: Iterable[NumericSketch]) -> NumericSketch:
    """The sketch of the union of the samples: bucket-wise sums, mins and maxs."""
    parts = [s for s in sketches if s.total > 0]
    if not parts:
        return empty_sketch()
    keys = np.concatenate([s.keys for s in parts])
    uniq, inverse = np.unique(keys, return_inverse=True)

    def combine(attr: str, how: np.ufunc, init: float) -> np.ndarray:
        out = np.full(len(uniq), init, dtype=float)
        how.at(out, inverse, np.concatenate([getattr(s, attr) for s in parts]))
        return out

    counts, sums = combine("counts", np.add, 0.0), combine("sums", np.add, 0.0)
    # Chan et al.: M2 = sum of the parts' M2 + sum of n_i * (mean_i - merged mean)^2, per bucket
    part_counts = np.concatenate([s.counts for s in parts])
    part_means = np.concatenate([s.means for s in parts])
    spread = part_counts * (part_means - (sums / counts)[inverse]) ** 2
    m2s = combine("m2s", np.add, 0.0)
    np.add.at(m2s, inverse, spread)
    return NumericSketch(
        keys=uniq,
        counts=counts.astype(np.int64),
        sums=sums,
        m2s=m2s,
        mins=combine("mins", np.minimum, np.inf),
        maxs=combine("maxs", np.maximum, -np.inf),
    )


def aligned_counts(a: NumericSketch, b: NumericSketch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sketches' counts over the union of their keys: (keys, counts_a, counts_b)."""
    keys = np.union1d(a.keys, b.keys)
    ca = np.zeros(len(keys), dtype=np.int64)
    cb = np.zeros(len(keys), dtype=np.int64)
    ca[np.searchsorted(keys, a.keys)] = a.counts
    cb[np.searchsorted(keys, b.keys)] = b.counts
    return keys, ca, cb


def bucket_bounds(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) value bounds of each bucket: (GAMMA^(k-OFFSET-1), GAMMA^(k-OFFSET)] for k > 0,
    its mirror for k < 0, [0, 0] for k = 0 (the innermost buckets reach down to 0)."""
    keys = np.asarray(keys, dtype=np.int64)
    magnitude = np.abs(keys) - OFFSET
    with np.errstate(over="ignore"):
        outer = np.where(keys == 0, 0.0, GAMMA ** magnitude.astype(float))
        inner = np.where(keys == 0, 0.0, GAMMA ** (magnitude - 1).astype(float))
    inner = np.where(inner < ZERO_BAND, 0.0, inner)  # the innermost bucket holds all of (0, ZERO_BAND]
    return np.where(keys < 0, -outer, inner), np.where(keys < 0, -inner, outer)
