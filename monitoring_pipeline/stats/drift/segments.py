"""Drift per segment, on plain profiles: every column of every segment large enough to judge, against the
same segment of the reference, as one family.

A segment is judged only when it holds at least `min_rows` rows in the hour and in the reference: below
that, no test can tell a real change from noise, and a small segment would only add false alarms. The
false-alarm control spans the whole hour: the judged (segment, column) pairs are one Benjamini-Hochberg
family at `alpha` (decision.evaluate_hour), so forty segments of a dozen columns do not alarm forty times
as often as the whole population, and an unchanged hour reports any segment drift with chance <= alpha.
A segment column is not judged within its own segments (there it holds one value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from monitoring_pipeline.stats.drift.decision import DriftColumn, FeatureDrift, evaluate_hour
from monitoring_pipeline.stats.profiles import Profile

SEP = "\x1f"  # joins segment and column into one name of the family: never in either


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
    def drift_share(self) -> float | None:
        features = [r for r in self.evaluated if r.role == "feature"]
        return sum(r.drifted for r in features) / len(features) if features else None


def _rows(profiles: Mapping[str, Profile] | None) -> int:
    return max((p.rows for p in profiles.values()), default=0) if profiles else 0


def segment_drift(
    columns: Sequence[DriftColumn],
    reference: Mapping[str, Mapping[str, Profile]],
    current: Mapping[str, Mapping[str, Profile]],
    alpha: float,
    min_rows: int,
) -> list[SegmentDrift]:
    """Every segment of the hour (`current`), judged against the same segment of `reference` when both
    hold at least `min_rows` rows; ordered as `current`."""
    judged: dict[str, list[DriftColumn]] = {}
    ref_flat: dict[str, Profile] = {}
    cur_flat: dict[str, Profile] = {}
    family: list[DriftColumn] = []
    for segment, profiles in current.items():
        if _rows(profiles) < min_rows or _rows(reference.get(segment)) < min_rows:
            continue
        own = segment.split("=", 1)[0]
        judged[segment] = [c for c in columns if c.name != own and c.name in profiles]
        for c in judged[segment]:
            name = f"{segment}{SEP}{c.name}"
            family.append(replace(c, name=name))
            cur_flat[name] = profiles[c.name]
            if c.name in reference[segment]:
                ref_flat[name] = reference[segment][c.name]
    results = iter(evaluate_hour(family, ref_flat, cur_flat, alpha))
    out = []
    for segment, profiles in current.items():
        rows, ref_rows = _rows(profiles), _rows(reference.get(segment))
        if segment not in judged:
            reason = (
                f"{rows} rows in the hour and {ref_rows} in the reference; a segment is judged from "
                f"{min_rows} rows on both sides"
            )
            out.append(SegmentDrift(segment, rows, ref_rows, False, (), reason))
            continue
        mine = tuple(replace(next(results), feature=c.name) for c in judged[segment])
        out.append(SegmentDrift(segment, rows, ref_rows, True, mine))
    return out


def worst_segments(segments: Sequence[SegmentDrift], n: int = 5) -> list[SegmentDrift]:
    """The judged segments that drifted most: most drifted columns, then the strongest evidence."""
    judged = [s for s in segments if s.judged and s.drifted]
    return sorted(judged, key=lambda s: (-len(s.drifted), s.min_q_value or 1.0, s.segment))[:n]
