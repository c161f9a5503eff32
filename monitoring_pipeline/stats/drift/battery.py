"""The automatic drift test, `auto`: a small battery of comparisons per column, each watching one
way a distribution can change, each with its own effect floor (the smallest change that matters).

Numerical columns:
| finding | watches | effect | floor |
| `ks` | any change of the CDF (shape, a bimodal reshape) | KS D beyond its noise | 0.05 |
| `location` | values moved up or down | |P(current > reference) - 1/2| (Mann-Whitney) | 0.035 (0.125 sd) |
| `scale` | spread widened or narrowed | |Mood's dispersion index| | 0.2 (normal: x1.2, x0.83) |
| `tails` | values beyond the reference's extremes (widened) | gain in share | 1 % |
| `truncation` | the hour stops short of the reference's range: a cap | reference share beyond it | 5 % |
| `point_mass` | one value gained mass: a cap, clipping, a sentinel fill | gain in share | 5 % |

Categorical columns:
| `unseen_categories` | categories the reference never saw | their share | 1 % |
| `jensenshannon` | category shares moved | JS distance (significance: chisquare.ladder) | 0.1 |

Effects from estimates count beyond their noise: KS D minus its mean when nothing changed (D is
biased up by noise), the scale effect by its lower confidence bound (2 standard errors; see
ranks.LOWER_BOUND_Z). The location effect counts as estimated: it is unbiased and its test stays
calibrated under a harmless daily cycle, and a gradual drift against a trailing reference (a steady
0.15 sd lag) sits just above its floor, where a lower bound would hide it in mid-size hours.
The score is the strength: the largest effect / floor over the findings (>= 1: past a floor). The
decision, with the hour's false-alarm control over every finding of every column, is decision.py's.
"""

from __future__ import annotations

import math

from monitoring_pipeline.stats.drift import point_mass, ranks, tails
from monitoring_pipeline.stats.drift.base import Finding, StatOutcome, StatTest, register
from monitoring_pipeline.stats.drift.binning import binned_counts
from monitoring_pipeline.stats.drift.chisquare import ladder
from monitoring_pipeline.stats.drift.exact import number, percent
from monitoring_pipeline.stats.drift.jensenshannon import js_distance
from monitoring_pipeline.stats.drift.ks import ks_counts
from monitoring_pipeline.stats.drift.unseen import unseen_finding
from monitoring_pipeline.stats.profiles import CategoricalProfile, NumericProfile, Profile
from monitoring_pipeline.stats.sketch import aligned_counts

KS_FLOOR = 0.05
KS_NOISE = 0.8687  # the mean of the Kolmogorov distribution: E[sqrt(n_eff) D] when nothing changed
LOCATION_FLOOR = 0.035
SCALE_FLOOR = 0.2
JS_FLOOR = 0.1


def numerical_findings(ref: NumericProfile, cur: NumericProfile) -> tuple[Finding, ...]:
    keys, rc, cc = aligned_counts(ref.sketch, cur.sketch)
    d, p_ks = ks_counts(keys, rc, cc)
    n, m = int(rc.sum()), int(cc.sum())
    # An estimate of a change is not 0 when nothing changed: KS D of two samples of one distribution
    # is about 0.87 / sqrt(n m / (n + m)), so D counts beyond that; the scale effect counts by its
    # lower confidence bound (see the module's docstring).
    beyond_noise = max(d - KS_NOISE / math.sqrt(n * m / (n + m)), 0.0)
    loc, _, p_loc, _ = ranks.location(rc, cc)
    spread, _, p_scale, se_scale = ranks.scale(rc, cc)
    (r25, r50, r75), (c25, c50, c75) = (
        ref.sketch.quantiles((0.25, 0.5, 0.75)),
        cur.sketch.quantiles((0.25, 0.5, 0.75)),
    )
    direction = "up" if loc > 0 else "down"
    wider = "wider" if spread > 0 else "narrower"
    return (
        Finding(
            "ks", beyond_noise, KS_FLOOR, p_ks, f"{percent(d)} of values moved past some value (KS D {d:.3f})"
        ),
        Finding(
            "location",
            abs(loc),
            LOCATION_FLOOR,
            p_loc,
            f"values moved {direction}: median {number(c50)} (reference {number(r50)}), "
            f"P(current > reference) {0.5 + loc:.2f}",
        ),
        Finding(
            "scale",
            max(abs(spread) - ranks.LOWER_BOUND_Z * se_scale, 0.0),
            SCALE_FLOOR,
            p_scale,
            f"spread {wider}: interquartile range {number(c75 - c25)} (reference {number(r75 - r25)})",
        ),
        tails.tail_finding(keys, rc, cc),
        tails.truncation_finding(keys, rc, cc),
        point_mass.point_mass_finding(keys, rc, cc, cur.sketch),
    )


def categorical_findings(ref: CategoricalProfile, cur: CategoricalProfile) -> tuple[Finding, ...]:
    counts = binned_counts(ref, cur, n_bins=20)  # one bin per category
    distance = js_distance(*counts)
    p, _ = ladder(*counts)
    shares = _largest_move(ref, cur)
    js = Finding(
        "jensenshannon", distance, JS_FLOOR, p, f"category shares moved (JS distance {distance:.3f}){shares}"
    )
    unseen = unseen_finding(ref, cur)
    return (js,) if unseen is None else (unseen, js)


def _largest_move(ref: CategoricalProfile, cur: CategoricalProfile) -> str:
    r, c = ref.shares(), cur.shares()
    moved = max(set(r) | set(c), key=lambda k: (abs(c.get(k, 0.0) - r.get(k, 0.0)), k), default=None)
    if moved is None:
        return ""
    return f"; most: {moved!r} {percent(c.get(moved, 0.0))} of rows (reference {percent(r.get(moved, 0.0))})"


def _auto(ref: Profile, cur: Profile) -> StatOutcome:
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        findings = numerical_findings(ref, cur)
    else:
        assert isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile)
        findings = categorical_findings(ref, cur)
    strength = max(f.effect / f.floor for f in findings)
    return StatOutcome(score=float(strength), findings=findings)


AUTO = register(
    StatTest(
        "auto",
        frozenset({"numerical", "categorical"}),
        "distance",
        1.0,
        _auto,
        "the automatic battery: KS, location, scale, tails, truncation and point mass (numerical); unseen "
        "categories and Jensen-Shannon (categorical); score = largest effect / its floor",
    )
)
