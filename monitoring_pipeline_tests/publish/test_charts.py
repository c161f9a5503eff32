"""The report's numeric histogram: when its axis turns log10, what each side's shares are on it (checked
against numpy's histogram of the raw values), and what the SVG tells a reader."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from monitoring_pipeline.publish.charts import (
    BINS,
    Axis,
    decade_label,
    log_ticks,
    numeric_axis,
    numeric_histogram,
    numeric_shares,
    numeric_svg,
)
from monitoring_pipeline.stats.profiles import numeric_profile
from monitoring_pipeline.stats.sketch import sketch_from_values
from monitoring_pipeline_tests.publish.test_reports_prometheus import parse

RNG = np.random.default_rng(20261124)
# the demo's delivery distance_km (gamma, 0.4..17 km between its 1st and 99th percentiles), and the
# unit-bug hours' values: the same, sent in metres
DISTANCE = RNG.gamma(2.0, 2.5, 20_000).round(3)
IN_METRES = RNG.gamma(2.0, 2.5, 2_000).round(3) * 1000


def spread(shares: np.ndarray, floor: float = 0.01) -> int:
    """Bins holding at least `floor` of a side's values."""
    return int((shares >= floor).sum())


def raw_shares(axis: Axis, values: np.ndarray) -> np.ndarray:
    """The independent reference: numpy's histogram of the raw positive values on the same edges,
    values beyond the range counted in the end bins (as the chart does)."""
    positive = values[values > 0]
    clipped = np.clip(positive, axis.edges[0], axis.edges[-1])
    counts, _ = np.histogram(clipped, bins=axis.edges)
    return counts / len(values)


def test_the_unit_bug_hour_is_drawn_on_a_log_axis_with_the_reference_over_many_bins() -> None:
    axis, ref, cur = numeric_histogram(numeric_profile(DISTANCE), numeric_profile(IN_METRES))
    assert axis.log and not axis.nonpositive
    assert ref is not None and cur is not None
    assert spread(ref.bins) >= 12 and spread(cur.bins) >= 12  # both shapes visible, ~14 bins each
    for side in (ref, cur):
        assert side.bins.sum() + side.nonpositive == pytest.approx(1.0, abs=1e-9)
    # each bucket of the sketch goes to the bin of its mean: within 2 % of each value, so the shares
    # differ from the raw values' histogram only by mass near the edges (bins are 31 % wide)
    for side, values in ((ref, DISTANCE), (cur, IN_METRES)):
        assert 0.5 * np.abs(side.bins - raw_shares(axis, values)).sum() < 0.03
    # the same hour on the old linear axis: the reference is one bar
    linear = Axis(np.linspace(axis.edges[0], axis.edges[-1], BINS + 1))
    assert spread(numeric_shares(linear, sketch_from_values(DISTANCE)).bins) <= 1


def test_a_narrow_column_and_a_stray_value_stay_linear() -> None:
    assert not numeric_axis([sketch_from_values(DISTANCE)]).log  # 0.4..17: under two decades
    narrow = RNG.normal(12.0, 3.0, 5_000)
    assert not numeric_axis([sketch_from_values(narrow), sketch_from_values(narrow + 1)]).log
    # one value a billion times larger is beyond the 99th percentile: it cannot switch the scale
    stray = np.append(DISTANCE[:2_000], 1e9)
    axis = numeric_axis([sketch_from_values(DISTANCE), sketch_from_values(stray)])
    assert not axis.log
    assert numeric_shares(axis, sketch_from_values(stray)).bins[-1] >= 1 / len(stray)  # in the end bin


@pytest.mark.parametrize("decades", [2.5, 3.5])
def test_the_switch_is_at_three_decades_of_the_positive_range(decades: float) -> None:
    values = np.geomspace(1.0, 10**decades, 10_001)  # p1..p99 spans 0.98 of the decades
    assert numeric_axis([sketch_from_values(values)]).log == (0.98 * decades > 3)


def test_zeros_and_negatives_get_a_bin_of_their_own_on_a_log_axis() -> None:
    amounts = RNG.lognormal(2.0, 2.0, 10_000)  # positive, ~8 decades between p1 and p99
    with_zeros = np.where(RNG.random(10_000) < 0.4, 0.0, amounts)
    with_negatives = np.concatenate([amounts[:7_000], -amounts[7_000:]])  # refunds: 30 % negative
    axis, ref, cur = numeric_histogram(numeric_profile(with_zeros), numeric_profile(with_negatives))
    assert axis.log and axis.nonpositive
    assert ref is not None and cur is not None
    assert ref.nonpositive == pytest.approx((with_zeros <= 0).mean(), abs=1e-12)
    assert cur.nonpositive == pytest.approx(0.3, abs=1e-12)
    for side, values in ((ref, with_zeros), (cur, with_negatives)):
        assert side.bins.sum() + side.nonpositive == pytest.approx(1.0, abs=1e-9)
        assert 0.5 * np.abs(side.bins - raw_shares(axis, values)).sum() < 0.03
    # mostly negative: the positive part does not decide the scale, the column is drawn linear
    debits = -amounts
    axis = numeric_axis([sketch_from_values(debits)])
    assert not axis.log and axis.edges[0] < 0


def test_the_svg_says_log_and_labels_powers_of_ten() -> None:
    zeros = np.where(RNG.random(20_000) < 0.1, 0.0, DISTANCE)
    page = parse(numeric_svg("distance_km", numeric_profile(zeros), numeric_profile(IN_METRES)))
    [svg] = [a for t, a in page.tags if t == "svg"]
    assert svg["data-scale"] == "log"
    decades = [int(a["data-decade"]) for t, a in page.tags if t == "text" and "data-decade" in a]
    assert decades == [0, 1, 2, 3, 4]  # 0.37 .. 17 000
    text = " ".join(page.text)
    assert "log scale" in text and "≤0" in text
    assert all(decade_label(k) in text for k in decades) and decade_label(3) == "10³"
    rects = [a for t, a in page.tags if t == "rect"]
    ref = [a for a in rects if a["class"] == "ref"]
    assert len(ref) == BINS + 1 and ref[0]["data-bin"] == "nonpositive"
    assert float(ref[0]["data-share"]) == pytest.approx((zeros <= 0).mean(), rel=1e-5)
    assert sum(float(a["data-share"]) for a in ref) == pytest.approx(1.0, abs=1e-4)  # 6 digits each
    linear = parse(numeric_svg("d", numeric_profile(DISTANCE), numeric_profile(DISTANCE + 1)))
    assert [a["data-scale"] for t, a in linear.tags if t == "svg"] == ["linear"]
    assert not [a for t, a in linear.tags if "data-decade" in a] and "log scale" not in linear.text


def test_ticks_are_thinned_over_many_decades() -> None:
    ticks = log_ticks(3e-7, 2e12)
    assert 2 <= len(ticks) <= 7 and ticks[0] >= -6 and ticks[-1] <= 12
    assert len({b - a for a, b in itertools.pairwise(ticks)}) == 1  # evenly spaced
    assert decade_label(-2) == "10⁻²"
