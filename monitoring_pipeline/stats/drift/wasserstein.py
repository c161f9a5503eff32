"""Wasserstein-1 (earth mover's) distance divided by the reference standard deviation: how far, in
reference standard deviations, the mass had to move on average (0.1 = a shift of a tenth of a
standard deviation). Each sketch bucket's mass sits at the bucket's mean, so the error is below
the bucket width (2 % relative). A constant reference (std 0) is scaled by |mean| (or 1 at 0)."""

from __future__ import annotations

import math

import numpy as np

from monitoring_pipeline.stats.drift.base import StatOutcome, StatTest, register
from monitoring_pipeline.stats.drift.ks import ks_from_profiles
from monitoring_pipeline.stats.profiles import NumericProfile, Profile


def wasserstein_1(u: np.ndarray, u_w: np.ndarray, v: np.ndarray, v_w: np.ndarray) -> float:
    """W1 between two weighted point sets: integral of |F_u - F_v| over the merged support."""
    points = np.concatenate([u, v])
    order = np.argsort(points, kind="mergesort")
    points = points[order]
    fu = np.cumsum(np.concatenate([u_w / u_w.sum(), np.zeros(len(v))])[order])
    fv = np.cumsum(np.concatenate([np.zeros(len(u)), v_w / v_w.sum()])[order])
    return float(np.sum(np.abs(fu - fv)[:-1] * np.diff(points)))


def scale_of(profile: NumericProfile) -> float:
    std = profile.std
    if std > 0 and math.isfinite(std):
        return std
    return abs(profile.mean) or 1.0


def _wasserstein(ref: Profile, cur: Profile) -> StatOutcome:
    assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
    w = wasserstein_1(
        ref.sketch.means, ref.sketch.counts.astype(float), cur.sketch.means, cur.sketch.counts.astype(float)
    )
    _, p = ks_from_profiles(ref, cur)
    return StatOutcome(
        score=w / scale_of(ref), p_value=p, details={"wasserstein": w, "reference_scale": scale_of(ref)}
    )


WASSERSTEIN = register(
    StatTest(
        "wasserstein",
        frozenset({"numerical"}),
        "distance",
        0.1,
        _wasserstein,
        "Wasserstein-1 distance in reference standard deviations, significance-gated",
    )
)
