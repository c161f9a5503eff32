"""Per-feature drift decisions and the dataset-level summary, on plain profiles.

Automatic choice (overridable per model and per feature): numerical -> `ks` (D >= 0.05),
categorical -> `jensenshannon` (>= 0.1). Sample size enters continuously rather than through one
cut-off (Evidently switches from p-values to distances at 1,000 rows, which alarms on negligible
shifts just below the cut and on noise just above it): a distance test reports drift only when the
distance is large enough to matter AND the difference is significant at `alpha` given both sample
sizes. Small hours cannot alarm on noise; huge hours cannot alarm on negligible differences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from monitoring_pipeline.stats.drift.base import REGISTRY, get_test
from monitoring_pipeline.stats.profiles import Profile

AUTO_TESTS = {"numerical": "ks", "categorical": "jensenshannon"}
DEFAULT_ALPHA = 1e-4  # per feature and hour: ~features x 24 x 1e-4 false alarms a model-day
Status = Literal["ok", "drift", "insufficient_data", "no_data"]


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
    test = REGISTRY[choose_test(kind, test_name)]
    threshold = test.default_threshold if threshold is None else threshold
    ref_n = reference.count if reference is not None else 0
    base = dict(
        feature=feature,
        role=role,
        kind=kind,
        test=test.name,
        score_kind=test.score_kind,
        threshold=threshold,
        alpha=alpha,
        reference_count=ref_n,
        current_count=current.count,
    )
    if current.count == 0:
        return FeatureDrift(
            **base,
            score=None,
            p_value=None,
            drifted=False,
            status="no_data",
            details={"reason": "no non-null values in the current hour"},
        )
    if reference is None or ref_n < test.min_count or current.count < test.min_count:
        reason = (
            f"{test.name} needs at least {test.min_count} values on each side; "
            f"reference has {ref_n}, current {current.count}"
        )
        return FeatureDrift(
            **base,
            score=None,
            p_value=None,
            drifted=False,
            status="insufficient_data",
            details={"reason": reason},
        )
    outcome = test.compute(reference, current)
    drifted = test.is_drift(outcome, threshold, alpha)
    details = dict(outcome.details)
    if kind == "categorical":
        details["new_categories"] = sorted(set(current.counts) - set(reference.counts))  # type: ignore[union-attr]
    return FeatureDrift(
        **base,
        score=outcome.score,
        p_value=outcome.p_value,
        drifted=drifted,
        status="drift" if drifted else "ok",
        details=details,
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
