"""Drift decisions for a whole hour, on plain profiles.

Automatic choice (overridable per model and per feature): the `auto` battery (battery.py), several
findings per column, each with an effect floor. A finding is drift when its effect is at or past its
floor (the change is large enough to matter) AND it is significant under the hour's false-alarm
control. That control has two levels: within a column, alpha is split over its findings
(Bonferroni: the column's p-value is its smallest finding's times their number); across the model's
columns, Benjamini-Hochberg at `alpha` (the cutoff of `bh_cutoff`; the row's p-value is the column's
adjusted one, `scipy.stats.false_discovery_control`). When nothing changed, `alpha` is the chance
that the hour reports any drift at all, however many columns the model has: at the default 1e-3,
0.024 false alarms a model-day. When something did change, its columns lower the bar for the others
as Benjamini-Hochberg does (the share of false columns among reported ones stays <= alpha).
Sample size enters continuously: small hours cannot alarm on noise (significance), huge hours
cannot alarm on negligible differences (floors).

A single test chosen in the config joins the same family (a distance test: its distance and
threshold are the effect and the floor, its significance gate the p-value); a p-value test
(`ks_pvalue`, `chisquare`) is judged on its own threshold, as its users expect.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from scipy.stats import false_discovery_control

from monitoring_pipeline.stats.drift.base import REGISTRY, Finding, StatOutcome, StatTest, get_test
from monitoring_pipeline.stats.profiles import CategoricalProfile, Profile

AUTO_TESTS = {"numerical": "auto", "categorical": "auto"}
DEFAULT_ALPHA = 1e-3  # per model-hour: the chance an unchanged model's hour reports any drift
Status = Literal["ok", "drift", "insufficient_data", "no_data", "no_reference"]


@dataclass(frozen=True)
class DriftColumn:
    """A column to judge: its name, kind, role and the test (and threshold) chosen for it, if any."""

    name: str
    kind: str
    role: str = "feature"  # "feature" or "prediction"
    test: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    role: str  # "feature" or "prediction"
    kind: str
    test: str
    score_kind: str
    score: float | None
    threshold: float
    p_value: float | None
    alpha: float
    drifted: bool
    status: Status
    reference_count: int
    current_count: int
    details: Mapping[str, Any] = field(default_factory=dict)
    explanation: str = ""  # what changed, in words (the fired findings); empty when nothing did


@dataclass(frozen=True)
class DriftSummary:
    features: int
    evaluated: int
    drifted: int
    drift_share: float | None  # drifted / evaluated features; None when nothing could be evaluated
    prediction_drifted: bool
    prediction_score: float | None
    top: tuple[FeatureDrift, ...]


def choose_test(kind: str, override: str | None = None) -> str:
    name = override or AUTO_TESTS[kind]
    get_test(name, kind)  # unknown names and kind mismatches fail loudly
    return name


@dataclass(frozen=True)
class _Judged:
    column: DriftColumn
    test: StatTest
    threshold: float
    reference: Profile | None
    current: Profile
    outcome: StatOutcome | None  # None: not evaluated (see status)
    status: Status
    reason: str = ""

    @cached_property
    def findings(self) -> tuple[Finding, ...]:
        if self.outcome is None or self.test.score_kind == "p_value":
            return ()
        if self.outcome.findings:
            return self.outcome.findings
        p = 0.0 if self.outcome.p_value is None else self.outcome.p_value
        words = f"{self.test.name} {self.outcome.score:.4g} (threshold {self.threshold:g})"
        return (Finding(self.test.name, self.outcome.score, self.threshold, p, words),)

    @property
    def column_p_value(self) -> float:
        """The column's p-value: its smallest finding's, times the number of findings (Bonferroni)."""
        return min(1.0, len(self.findings) * min(f.p_value for f in self.findings))

    @property
    def floor_scale(self) -> float:
        """A battery's threshold scales its floors (default 1); a single test's is its floor."""
        return self.threshold if self.outcome is not None and self.outcome.findings else 1.0


def evaluate_hour(
    columns: Sequence[DriftColumn],
    reference: Mapping[str, Profile],
    current: Mapping[str, Profile],
    alpha: float = DEFAULT_ALPHA,
) -> list[FeatureDrift]:
    """Judge every column of one model-hour together (the false-alarm control spans the hour)."""
    judged = [_compute(c, reference.get(c.name), current[c.name]) for c in columns]
    column_p = np.array([j.column_p_value for j in judged if j.findings])
    cutoff = bh_cutoff(column_p, alpha)
    q_values = iter(false_discovery_control(column_p) if len(column_p) else [])
    return [_decide(j, float(next(q_values)) if j.findings else math.nan, cutoff, alpha) for j in judged]


def no_reference(
    columns: Sequence[DriftColumn], current: Mapping[str, Profile], alpha: float, reason: str
) -> list[FeatureDrift]:
    """Every column of an hour that has no reference yet: not judged (status `no_reference`), with why."""
    out = []
    for c in columns:
        test = REGISTRY[choose_test(c.kind, c.test)]
        threshold = test.default_threshold if c.threshold is None else c.threshold
        judged = _Judged(c, test, threshold, None, current[c.name], None, "no_reference", reason)
        out.append(_decide(judged, math.nan, 0.0, alpha))
    return out


def bh_cutoff(p_values: np.ndarray, alpha: float) -> float:
    """Benjamini-Hochberg's step-up cutoff: p-values at or below it are rejected (0: none is)."""
    k = len(p_values)
    if k == 0:
        return 0.0
    ranked = np.sort(p_values)
    passing = np.nonzero(ranked <= alpha * np.arange(1, k + 1) / k)[0]
    return float(alpha * (passing[-1] + 1) / k) if len(passing) else 0.0


def evaluate_feature(
    feature: str,
    kind: str,
    reference: Profile | None,
    current: Profile,
    role: str = "feature",
    test_name: str | None = None,
    threshold: float | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> FeatureDrift:
    """One column judged as an hour of its own."""
    column = DriftColumn(feature, kind, role, test_name, threshold)
    ref = {} if reference is None else {feature: reference}
    return evaluate_hour([column], ref, {feature: current}, alpha)[0]


def _compute(column: DriftColumn, reference: Profile | None, current: Profile) -> _Judged:
    test = REGISTRY[choose_test(column.kind, column.test)]
    threshold = test.default_threshold if column.threshold is None else column.threshold
    ref_n = reference.count if reference is not None else 0
    base = dict(column=column, test=test, threshold=threshold, reference=reference, current=current)
    if current.count == 0:
        return _Judged(
            **base, outcome=None, status="no_data", reason="no non-null values in the current hour"
        )
    if reference is None or ref_n < test.min_count or current.count < test.min_count:
        reason = (
            f"{test.name} needs at least {test.min_count} values on each side; "
            f"reference has {ref_n}, current {current.count}"
        )
        return _Judged(**base, outcome=None, status="insufficient_data", reason=reason)
    return _Judged(**base, outcome=test.compute(reference, current), status="ok")


def _decide(j: _Judged, q_value: float, cutoff: float, alpha: float) -> FeatureDrift:
    c, test = j.column, j.test
    base = dict(
        feature=c.name,
        role=c.role,
        kind=c.kind,
        test=test.name,
        score_kind=test.score_kind,
        threshold=j.threshold,
        alpha=alpha,
        reference_count=j.reference.count if j.reference is not None else 0,
        current_count=j.current.count,
    )
    if j.outcome is None:
        details = {"reason": j.reason}
        return FeatureDrift(**base, score=None, p_value=None, drifted=False, status=j.status, details=details)
    outcome = j.outcome
    details: dict[str, Any] = dict(outcome.details)
    if test.score_kind == "p_value":
        drifted = outcome.score < j.threshold
        p_value = outcome.p_value
        explanation = f"{test.name} p-value {outcome.score:.3g} < {j.threshold:g}" if drifted else ""
    else:
        tests = len(j.findings)
        rows = []
        for f in j.findings:
            adjusted = min(1.0, tests * f.p_value)
            rows.append((f, adjusted, f.effect >= f.floor * j.floor_scale and adjusted <= cutoff))
        fired = sorted((r for r in rows if r[2]), key=lambda r: r[0].effect / r[0].floor, reverse=True)
        drifted, p_value = bool(fired), q_value
        explanation = "; ".join(f.words for f, _, _ in fired)
        details["findings"] = [
            {
                "test": f.test,
                "effect": f.effect,
                "floor": f.floor * j.floor_scale,
                "p_value": f.p_value,
                "adjusted_p_value": adjusted,
                "fired": hit,
                "words": f.words,
            }
            for f, adjusted, hit in rows
        ]
        details["hour_cutoff"] = cutoff
        details["fired"] = [f.test for f, _, _ in fired]
    if isinstance(j.reference, CategoricalProfile) and isinstance(j.current, CategoricalProfile):
        details["new_categories"] = sorted(set(j.current.counts) - set(j.reference.counts))
    if explanation:
        details["explanation"] = explanation
    return FeatureDrift(
        **base,
        score=outcome.score,
        p_value=p_value,
        drifted=drifted,
        status="drift" if drifted else "ok",
        details=details,
        explanation=explanation,
    )


def summarize(results: Sequence[FeatureDrift], top_n: int = 5) -> DriftSummary:
    features = [r for r in results if r.role == "feature"]
    evaluated = [r for r in features if r.status in ("ok", "drift")]
    drifted = [r for r in evaluated if r.drifted]
    predictions = [r for r in results if r.role == "prediction" and r.score is not None]
    ranked = sorted(drifted, key=lambda r: _severity(r), reverse=True)
    return DriftSummary(
        features=len(features),
        evaluated=len(evaluated),
        drifted=len(drifted),
        drift_share=len(drifted) / len(evaluated) if evaluated else None,
        prediction_drifted=any(r.drifted for r in predictions),
        prediction_score=max((_severity(r) for r in predictions), default=None),
        top=tuple(ranked[:top_n]),
    )


def _severity(result: FeatureDrift) -> float:
    """Score relative to threshold (>= 1 means past it), comparable across tests."""
    if result.score is None:
        return 0.0
    if result.score_kind == "p_value":
        return result.threshold / max(result.score, 1e-300)
    return result.score / result.threshold if result.threshold else math.inf
