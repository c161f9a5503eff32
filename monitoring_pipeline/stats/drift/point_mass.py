"""Point-mass test: one value (or one 2 % bucket of the sketch) holds far more of the hour than it
held in the reference: values capped or clipped upstream, a sentinel fill (0, -1, 999), a default
written for a missing field. KS sees a cap at the p90 as D = 0.1, under the noise of a 200-row hour;
here the capped value's bucket goes from ~0.5 % to ~10 % of the rows, which is unmistakable.

The bucket with the largest gain in share is tested exactly (`exact.excess_p_value`), its p-value
multiplied by the number of buckets that could carry a point mass (Bonferroni: the bucket was picked
after looking): those holding at least the floor's share of the hour, at most 1 / floor = 20 of them.
The effect floor is 5 % of the hour, the KS floor: what moved must be as much mass as a
distance test would call a change.
"""

from __future__ import annotations

import numpy as np

from monitoring_pipeline.stats.drift.base import Finding
from monitoring_pipeline.stats.drift.exact import excess_p_value, number, percent
from monitoring_pipeline.stats.sketch import NumericSketch

POINT_MASS_MIN_EXCESS = 0.05


def point_mass_finding(keys: np.ndarray, rc: np.ndarray, cc: np.ndarray, current: NumericSketch) -> Finding:
    n, m = int(rc.sum()), int(cc.sum())
    gain = cc / m - rc / n
    b = int(np.argmax(gain))
    if gain[b] <= 0:
        return Finding("point_mass", 0.0, POINT_MASS_MIN_EXCESS, 1.0, "no value gained share")
    candidates = max(int(np.count_nonzero(cc >= POINT_MASS_MIN_EXCESS * m)), 1)
    p = min(1.0, float(excess_p_value(int(cc[b]), m, int(rc[b]), n)) * candidates)
    at = int(np.searchsorted(current.keys, keys[b]))
    lo, hi = float(current.mins[at]), float(current.maxs[at])
    where = f"at {number(lo)}" if lo == hi else f"in [{number(lo)}, {number(hi)}]"
    words = f"{percent(cc[b] / m)} of values {where} (reference: {percent(rc[b] / n)})"
    return Finding("point_mass", float(gain[b]), POINT_MASS_MIN_EXCESS, p, words)
