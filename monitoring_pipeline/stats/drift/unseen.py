"""Unseen categories: current values in categories the reference never saw, never pooled away.

A chi-square test pools sparse cells, so a category the reference never saw (it expects ~0 rows)
disappears into the pool: 16 of 200 rows in a category absent from 504k reference rows gave p = 0.51.
Here the current's count in never-seen categories is tested exactly against the reference
(`exact.excess_p_value`, one-sided Fisher): under no change, the current sample can hold categories
the reference missed only as often as the reference's own rare categories suggest, so the
reference's count for "unseen" is its number of singletons (Good-Turing: the mass of categories a
sample of n missed is about N1 / n). A reference of 500k rows without singletons makes 16 of 200
rows in new categories a p-value of ~1e-55; a reference full of one-off values makes them normal.

Only a reference that kept every category (no `__other__` pool: at most 200 distinct values) can say
a category is new; the current's own `__other__` is not counted.
"""

from __future__ import annotations

from monitoring_pipeline.stats.drift.base import Finding
from monitoring_pipeline.stats.drift.exact import excess_p_value, percent
from monitoring_pipeline.stats.profiles import OTHER, CategoricalProfile

UNSEEN_MIN_SHARE = 0.01  # categories never seen holding under 1 % of the hour are too small to matter
LISTED = 3


def unseen_finding(ref: CategoricalProfile, cur: CategoricalProfile) -> Finding | None:
    """None when the reference pooled categories (it cannot know what it never saw) or when no category
    is new (the finding could not fire, so it takes no share of the column's alpha)."""
    if ref.pooled:
        return None
    new = sorted(
        ((c, v) for c, v in cur.counts.items() if c != OTHER and c not in ref.counts and v > 0),
        key=lambda cv: (-cv[1], cv[0]),
    )
    n, m = ref.count, cur.count
    k = sum(v for _, v in new)
    singletons = sum(1 for v in ref.counts.values() if v == 1)
    excess = k / m - singletons / n
    if not new:
        return None
    listed = ", ".join(f"{c!r} {percent(v / m)}" for c, v in new[:LISTED])
    more = f" and {len(new) - LISTED} more" if len(new) > LISTED else ""
    words = f"new categories: {listed}{more} of rows"
    p = float(excess_p_value(k, m, singletons, n))
    return Finding("unseen_categories", max(excess, 0.0), UNSEEN_MIN_SHARE, p, words)
