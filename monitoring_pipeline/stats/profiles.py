"""Feature profiles: plain, mergeable summaries of one column over an hour or a window.

A window's profile is `merge_profiles` of its hourly profiles: counts, nulls, min, max, mean and
variance are exact; quantiles come from the merged sketch (relative error <= sketch.ALPHA);
categorical counts are exact for categories in every hour's top-k, the rest is pooled as "other".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from monitoring_pipeline.stats.sketch import NumericSketch, empty_sketch, merge_sketches, sketch_from_values

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_K = 200
OTHER = "__other__"


@dataclass(frozen=True)
class NumericProfile:
    rows: int
    nulls: int
    non_finite: int
    sketch: NumericSketch = field(default_factory=empty_sketch)
    kind: str = "numerical"

    @property
    def count(self) -> int:
        """Finite values: what the statistics and drift tests are computed on."""
        return self.sketch.total

    @property
    def mean(self) -> float:
        return self.sketch.moments()[0]

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof=1), as pandas and most users expect."""
        n = self.count
        return math.sqrt(self.sketch.moments()[1] * n / (n - 1)) if n > 1 else math.nan

    @property
    def min(self) -> float:
        return float(self.sketch.mins[0]) if self.count else math.nan

    @property
    def max(self) -> float:
        return float(self.sketch.maxs[-1]) if self.count else math.nan

    def quantiles(self) -> dict[float, float]:
        return dict(zip(QUANTILES, self.sketch.quantiles(QUANTILES), strict=True))


@dataclass(frozen=True)
class CategoricalProfile:
    rows: int
    nulls: int
    counts: Mapping[str, int]  # top-k categories; the rest pooled under OTHER
    distinct: int
    kind: str = "categorical"

    @property
    def count(self) -> int:
        return int(sum(self.counts.values()))

    @property
    def pooled(self) -> bool:
        """Whether rare categories were pooled as OTHER: then a category it does not name may be one."""
        return bool(self.counts.get(OTHER))

    def shares(self) -> dict[str, float]:
        total = self.count
        return {k: v / total for k, v in self.counts.items()} if total else {}


Profile = NumericProfile | CategoricalProfile


def numeric_profile(values: Iterable[float]) -> NumericProfile:
    """Profile raw values in memory (reference files, tests); None and NaN count as nulls."""
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    nulls = int(np.isnan(array).sum())
    non_finite = int(np.isinf(array).sum())
    return NumericProfile(len(array), nulls, non_finite, sketch_from_values(array))


def categorical_profile(values: Iterable[object], top_k: int = TOP_K) -> CategoricalProfile:
    items = list(values)
    present = [str(v) for v in items if v is not None and v == v]  # v == v drops NaN
    counter = Counter(present)
    return CategoricalProfile(len(items), len(items) - len(present), top_counts(counter, top_k), len(counter))


def top_counts(counts: Mapping[str, int], top_k: int = TOP_K) -> dict[str, int]:
    """Keep the top_k most frequent categories (ties broken by name) and pool the rest as OTHER."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:top_k])
    rest = sum(v for _, v in ranked[top_k:])
    if rest:
        kept[OTHER] = kept.get(OTHER, 0) + rest
    return kept


def merge_profiles(profiles: Iterable[Profile]) -> Profile | None:
    """The profile of the union of the samples; None for no profiles. Kinds must match."""
    items = list(profiles)
    if not items:
        return None
    kinds = {p.kind for p in items}
    if len(kinds) != 1:
        raise ValueError(f"cannot merge profiles of different kinds: {sorted(kinds)}")
    rows, nulls = sum(p.rows for p in items), sum(p.nulls for p in items)
    if isinstance(items[0], NumericProfile):
        sketch = merge_sketches(p.sketch for p in items)  # type: ignore[union-attr]
        return NumericProfile(rows, nulls, sum(p.non_finite for p in items), sketch)  # type: ignore[union-attr]
    counter: Counter[str] = Counter()
    for p in items:
        counter.update(p.counts)  # type: ignore[union-attr]
    distinct = len([k for k in counter if k != OTHER]) + (1 if counter.get(OTHER) else 0)
    distinct = max(distinct, max(p.distinct for p in items))  # type: ignore[union-attr]
    return CategoricalProfile(rows, nulls, top_counts(counter), distinct)
