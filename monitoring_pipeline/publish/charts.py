"""The hour report's inline SVG charts (no I/O): a column's reference and current distributions drawn
one over the other, as shares per bin (numeric) or per category.

A numeric column is drawn on common bins between the union of both sides' 1st and 99th percentiles
(values beyond go to the end bins), on a linear axis unless the column's positive values span more than
`DECADES` orders of magnitude. Precisely: the sides whose values are at least half positive are the
positive sides; over their positive values, if the highest 99th percentile is more than 10**DECADES times
the lowest 1st percentile, the axis is log10 over that range. A x1000 unit bug then shows both sides
with their shapes instead of the reference as one bar. On a log axis, values <= 0 (either side) get a
bin of their own, drawn apart on the left and labelled "<=0"; each side's shares still sum to 1.
Percentiles, not min and max, so one stray value never switches the scale.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monitoring_pipeline.stats.profiles import CategoricalProfile, NumericProfile, Profile
from monitoring_pipeline.stats.sketch import NumericSketch

BINS = 40
DECADES = 3
TOP_CATEGORIES = 12
MAX_TICKS = 7
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
REF_STYLE = 'fill="#9aa5b1" fill-opacity="0.55"'
CUR_STYLE = 'fill="none" stroke="#2f6fde" stroke-width="1.5"'


def esc(value: object) -> str:
    """Text for HTML and SVG (reports.py uses it too)."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Axis:
    edges: np.ndarray  # BINS + 1 increasing bin edges, in the column's units (geometric when log)
    log: bool = False
    nonpositive: bool = False  # log axis only: a bin of its own for values <= 0, left of the others


@dataclass(frozen=True)
class Shares:
    bins: np.ndarray  # the share of the side's values in each of the BINS bins
    nonpositive: float = 0.0  # the share <= 0 (log axis); bins.sum() + nonpositive == 1


def _part(s: NumericSketch, keep: np.ndarray) -> NumericSketch:
    fields = ("keys", "counts", "sums", "m2s", "mins", "maxs")
    return NumericSketch(**{f: getattr(s, f)[keep] for f in fields})


def numeric_axis(sketches: Sequence[NumericSketch]) -> Axis:
    """The common bins of the present sides (see the module's docstring for when the axis is log)."""
    present = [s for s in sketches if s.total]
    if not present:
        return Axis(np.linspace(0.0, 1.0, BINS + 1))
    positive = [_part(s, s.keys > 0) for s in present if s.counts[s.keys > 0].sum() * 2 >= s.total]
    if positive:
        lo = min(p.quantiles([0.01])[0] for p in positive)
        hi = max(p.quantiles([0.99])[0] for p in positive)
        if hi > lo * 10**DECADES:
            nonpositive = any(s.counts[s.keys <= 0].sum() for s in present)
            return Axis(np.geomspace(lo, hi, BINS + 1), log=True, nonpositive=bool(nonpositive))
    lo = min(s.quantiles([0.01])[0] for s in present)
    hi = max(s.quantiles([0.99])[0] for s in present)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return Axis(np.linspace(lo, hi, BINS + 1))


def numeric_shares(axis: Axis, sketch: NumericSketch) -> Shares:
    """Each bucket of the mergeable histogram goes to the bin holding its mean (values outside the
    range: the end bins; on a log axis, values <= 0: the nonpositive bin)."""
    means, counts = sketch.means, sketch.counts.astype(float)
    total = counts.sum()
    if axis.log:
        low = sketch.keys <= 0
        nonpositive = float(counts[low].sum() / total)
        means, counts, edges = np.log10(means[~low]), counts[~low], np.log10(axis.edges)
    else:
        nonpositive, edges = 0.0, axis.edges
    index = np.clip(np.searchsorted(edges, means, side="right") - 1, 0, BINS - 1)
    return Shares(np.bincount(index, weights=counts, minlength=BINS) / total, nonpositive)


def numeric_histogram(
    ref: NumericProfile | None, cur: NumericProfile | None
) -> tuple[Axis, Shares | None, Shares | None]:
    """The common axis and each present side's shares on it (None for a missing or empty side)."""
    sides = [p.sketch if p is not None and p.count else None for p in (ref, cur)]
    axis = numeric_axis([s for s in sides if s is not None])
    a, b = (None if s is None else numeric_shares(axis, s) for s in sides)
    return axis, a, b


def decade_label(k: int) -> str:
    return f"10{str(k).translate(SUPERSCRIPT)}"


def log_ticks(lo: float, hi: float) -> list[int]:
    """The powers of ten (exponents) inside [lo, hi], thinned to at most MAX_TICKS."""
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    step = max(1, math.ceil((last - first + 1) / MAX_TICKS))
    return list(range(first, last + 1, step))


def numeric_svg(feature: str, ref: NumericProfile | None, cur: NumericProfile | None) -> str:
    axis, a, b = numeric_histogram(ref, cur)
    width, height, pad = 360, 130, 18
    slots = BINS + (2 if axis.nonpositive else 0)  # the <=0 bin, then a gap
    bar = (width - 2 * pad) / slots
    x0 = pad + (slots - BINS) * bar  # where the range's bins start
    top = max([*(s.bins.max() for s in (a, b) if s), *(s.nonpositive for s in (a, b) if s), 1e-9])
    base = height - pad
    scale = "log" if axis.log else "linear"
    note = "; log10 axis, ticks at powers of ten" if axis.log else ""
    note += ", values <= 0 in the bin apart on the left" if axis.nonpositive else ""
    parts = [
        f'<svg class="dist numerical" data-feature="{esc(feature)}" data-scale="{scale}" '
        f'width="{width}" height="{height}" role="img">',
        f"<title>{esc(feature)}: reference (grey) and current (blue) share per bin{note}</title>",
    ]
    for cls, side in (("ref", a), ("cur", b)):
        if side is None:
            continue
        style = REF_STYLE if cls == "ref" else CUR_STYLE
        bins = [(x0 + i * bar, str(i), v) for i, v in enumerate(side.bins)]
        if axis.nonpositive:
            bins.insert(0, (pad, "nonpositive", side.nonpositive))
        for x, name, v in bins:
            h = (height - 2 * pad) * v / top
            parts.append(
                f'<rect class="{cls}" data-bin="{name}" data-share="{v:.6g}" x="{x:.1f}" y="{base - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}" {style}/>'
            )
    parts.append(f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#52606d"/>')
    parts += (
        _log_labels(axis, x0, bar, pad, width, height)
        if axis.log
        else _linear_labels(axis, width, height, pad)
    )
    parts.append("</svg>")
    return "".join(parts)


def _linear_labels(axis: Axis, width: int, height: int, pad: int) -> list[str]:
    return [
        f'<text x="{pad}" y="{height - 4}" font-size="10">{axis.edges[0]:.4g}</text>',
        f'<text x="{width - pad}" y="{height - 4}" font-size="10" text-anchor="end">{axis.edges[-1]:.4g}</text>',
    ]


def _log_labels(axis: Axis, x0: float, bar: float, pad: int, width: int, height: int) -> list[str]:
    """Tick marks and labels at powers of ten, "log scale" in the corner, "<=0" under its bin."""
    lo, hi = math.log10(axis.edges[0]), math.log10(axis.edges[-1])
    base = height - pad
    out = [
        f'<text class="scale" x="{width - pad}" y="10" font-size="10" fill="#52606d" '
        'text-anchor="end">log scale</text>'
    ]
    for k in log_ticks(axis.edges[0], axis.edges[-1]):
        x = x0 + (k - lo) / (hi - lo) * BINS * bar
        out.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="#52606d"/>')
        out.append(
            f'<text class="tick" data-decade="{k}" x="{x:.1f}" y="{height - 3}" font-size="10" '
            f'text-anchor="middle">{decade_label(k)}</text>'
        )
    if axis.nonpositive:
        out.append(
            f'<text class="tick" x="{pad + bar / 2:.1f}" y="{height - 3}" font-size="9" '
            'text-anchor="middle">≤0</text>'
        )
    return out


def categorical_svg(feature: str, ref: CategoricalProfile | None, cur: CategoricalProfile | None) -> str:
    a = ref.shares() if ref is not None and ref.count else {}
    b = cur.shares() if cur is not None and cur.count else {}
    cats = sorted(set(a) | set(b), key=lambda c: -(a.get(c, 0) + b.get(c, 0)))[:TOP_CATEGORIES]
    width, row = 360, 16
    height = row * len(cats) + 10
    top = max([*a.values(), *b.values(), 1e-9])
    span = width - 130
    parts = [
        f'<svg class="dist categorical" data-feature="{esc(feature)}" width="{width}" height="{height}" role="img">'
    ]
    parts.append(f"<title>{esc(feature)}: share per category, reference (grey) over current (blue)</title>")
    for i, c in enumerate(cats):
        y = 5 + i * row
        new = ' font-weight="bold" fill="#d64545"' if c not in a else ""
        parts.append(
            f'<text x="0" y="{y + 11}" font-size="11"{new}>{esc(c)[:16]}{" (new)" if new else ""}</text>'
        )
        parts.append(
            f'<rect class="ref" x="125" y="{y}" width="{span * a.get(c, 0) / top:.1f}" height="7" fill="#9aa5b1"/>'
        )
        parts.append(
            f'<rect class="cur" x="125" y="{y + 7}" width="{span * b.get(c, 0) / top:.1f}" height="7" fill="#2f6fde"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def chart(feature: str, ref: Profile | None, cur: Profile | None) -> str:
    if isinstance(cur, CategoricalProfile) or isinstance(ref, CategoricalProfile):
        return categorical_svg(feature, ref, cur)  # type: ignore[arg-type]
    return numeric_svg(feature, ref, cur)  # type: ignore[arg-type]
