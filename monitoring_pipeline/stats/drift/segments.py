"""Drift per segment, on plain profiles: every column of every segment large enough to judge, against the
same segment of the reference, as one family.

A segment is judged only when it holds at least `min_rows` rows in the hour and in the reference: below
that, no test can tell a real change from noise, and a small segment would only add false alarms. The
false-alarm control spans the whole hour: the judged (segment, column) pairs are one Benjamini-Hochberg
family at `alpha` (decision.evaluate_hour), so forty segments of a dozen columns do not alarm forty times
as often as the whole population, and an unchanged hour reports any segment drift with chance <= alpha.
A segment column is not judged within its own segments (there it holds one value). A column given a
p-value test (`ks_pvalue`, `chisquare`: judged on its own threshold, outside the family) is judged with
the automatic battery within segments, so that every pair stays under the family's control.

Not judged, and said why: the pooled rest of a column's values (`<column>=__other__`: which values it
holds changes from hour to hour), a segment without a complete reference (see pipeline/segments.py), and
a segment of the reference that has no row this hour (a market that went silent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from monitoring_pipeline.stats.drift.base import REGISTRY
from monitoring_pipeline.stats.drift.decision import DriftColumn, FeatureDrift, choose_test, evaluate_hour
from monitoring_pipeline.stats.profiles import OTHER, Profile

SEP = "\x1f"  # joins segment and column into one name of the family: never in either
WORST = 5  # how many of the worst segments the check, the report and the metadata name


@dataclass(frozen=True)
class SegmentDrift:
    segment: str  # `<column>=<value>`
    rows: int
    reference_rows: int
    judged: bool
    results: tuple[FeatureDrift, ...]  # its columns' drift (none when not judged)
    reason: str = ""  # why it was not judged

    @property
    def column(self) -> str:
        return self.segment.split("=", 1)[0]

    @property
    def value(self) -> str:
        return self.segment.split("=", 1)[1]

    @property
    def drifted(self) -> tuple[FeatureDrift, ...]:
        return tuple(r for r in self.results if r.drifted)

    @property
    def evaluated(self) -> tuple[FeatureDrift, ...]:
        return tuple(r for r in self.results if r.status in ("ok", "drift"))

    @property
    def min_q_value(self) -> float | None:
        qs = [r.p_value for r in self.evaluated if r.p_value is not None and not math.isnan(r.p_value)]
        return min(qs) if qs else None

    @property
    def rank(self) -> tuple[int, float, str]:
        return rank_key(len(self.drifted), self.min_q_value, self.segment)

    @property
    def drift_share(self) -> float | None:
        features = [r for r in self.evaluated if r.role == "feature"]
        return sum(r.drifted for r in features) / len(features) if features else None


def rank_key(drifted: int, min_q_value: float | None, segment: str) -> tuple[int, float, str]:
    """Worst first: the most drifted columns, then the strongest evidence (the smallest q-value)."""
    return (-drifted, 1.0 if min_q_value is None else min_q_value, segment)


def _rows(profiles: Mapping[str, Profile] | None) -> int:
    return max((p.rows for p in profiles.values()), default=0) if profiles else 0


def _family_column(column: DriftColumn) -> DriftColumn:
    """The column as the family judges it: a p-value test (its own threshold) becomes the battery."""
    if REGISTRY[choose_test(column.kind, column.test)].score_kind == "p_value":
        return replace(column, test=None, threshold=None)
    return column


def _why_not(segment: str, rows: int, ref_rows: int, min_rows: int) -> str:
    if segment.endswith(f"={OTHER}"):
        return "the pooled rest of the column's values (which values, changes hour to hour): reported only"
    if rows == 0:
        return f"no row this hour ({ref_rows} in the reference)"
    return (
        f"{rows} rows in the hour and {ref_rows} in the reference (0: not among the kept values in every "
        f"reference hour); a segment is judged from {min_rows} rows on both sides"
    )


def segment_drift(
    columns: Sequence[DriftColumn],
    reference: Mapping[str, Mapping[str, Profile]],
    current: Mapping[str, Mapping[str, Profile]],
    alpha: float,
    min_rows: int,
) -> list[SegmentDrift]:
    """Every segment of the hour (`current`) and of the reference, the hour's first: judged against the
    same segment of `reference` when both hold at least `min_rows` rows (the pooled rest never)."""
    judged: dict[str, list[DriftColumn]] = {}
    ref_flat: dict[str, Profile] = {}
    cur_flat: dict[str, Profile] = {}
    family: list[DriftColumn] = []
    for segment, profiles in current.items():
        too_small = _rows(profiles) < min_rows or _rows(reference.get(segment)) < min_rows
        if too_small or segment.endswith(f"={OTHER}"):
            continue
        own = segment.split("=", 1)[0]
        judged[segment] = [_family_column(c) for c in columns if c.name != own and c.name in profiles]
        for c in judged[segment]:
            name = f"{segment}{SEP}{c.name}"
            family.append(replace(c, name=name))
            cur_flat[name] = profiles[c.name]
            if c.name in reference[segment]:
                ref_flat[name] = reference[segment][c.name]
    results = iter(evaluate_hour(family, ref_flat, cur_flat, alpha))
    out = []
    gone = [s for s in reference if s not in current]
    for segment in [*current, *gone]:
        rows, ref_rows = _rows(current.get(segment)), _rows(reference.get(segment))
        if segment not in judged:
            why = _why_not(segment, rows, ref_rows, min_rows)
            out.append(SegmentDrift(segment, rows, ref_rows, False, (), why))
            continue
        mine = tuple(replace(next(results), feature=c.name) for c in judged[segment])
        out.append(SegmentDrift(segment, rows, ref_rows, True, mine))
    return out


def worst_segments(segments: Sequence[SegmentDrift], n: int = WORST) -> list[SegmentDrift]:
    """The judged segments that drifted, worst first (SegmentDrift.rank)."""
    return sorted((s for s in segments if s.judged and s.drifted), key=lambda s: s.rank)[:n]
