"""The drift-test registry. Each test lives in its own small module and registers a `StatTest` on
its last line. The spec says whether the score is a p-value (drift when below the threshold) or a
distance (drift when at or above it, and significant); decision.py makes the decision, for a whole
hour at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from monitoring_pipeline.stats.profiles import Profile

ScoreKind = Literal["p_value", "distance"]


class UnknownDriftTestError(ValueError):
    """A drift test name that is not registered; the message lists the valid ones."""


@dataclass(frozen=True)
class Finding:
    """One significance-gated comparison: how large the change is (`effect`, in the comparison's own
    unit, >= 0), the smallest effect that matters (`floor`), the p-value of the change under "no
    change", and the effect in words. Drift is an effect at or past its floor whose p-value survives
    the hour's false-alarm control (decision.py)."""

    test: str
    effect: float
    floor: float
    p_value: float
    words: str


@dataclass(frozen=True)
class StatOutcome:
    """What a test computed: its score, the p-value of its significance test, details, and (for a
    battery of comparisons) each comparison's finding."""

    score: float
    p_value: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class StatTest:
    name: str
    kinds: frozenset[str]
    score_kind: ScoreKind
    default_threshold: float
    compute: Callable[[Profile, Profile], StatOutcome]
    description: str
    min_count: int = 30  # below this many values on either side the result is "insufficient data"


REGISTRY: dict[str, StatTest] = {}


def register(test: StatTest) -> StatTest:
    if test.name in REGISTRY:
        raise ValueError(f"drift test {test.name!r} registered twice")
    REGISTRY[test.name] = test
    return test


def get_test(name: str, kind: str | None = None) -> StatTest:
    """The registered test; unknown names (or a test that does not fit the kind) fail loudly."""
    if name not in REGISTRY:
        raise UnknownDriftTestError(
            f"unknown drift test {name!r}; valid tests: {', '.join(sorted(REGISTRY))}"
        )
    test = REGISTRY[name]
    if kind is not None and kind not in test.kinds:
        valid = sorted(n for n, t in REGISTRY.items() if kind in t.kinds)
        raise UnknownDriftTestError(
            f"drift test {name!r} does not apply to {kind} features; use one of {valid}"
        )
    return test
