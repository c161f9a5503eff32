"""Two-sample chi-square test of homogeneity (a 2 x k contingency table), for categories, or for
numerical features over 10 reference-quantile bins. Score: the p-value.

The reference is a sample too, so a goodness-of-fit test that treats reference shares as exact
(Evidently's) is wrong, and infinite for a category unseen in the reference; the contingency test
is not. Cells expecting fewer than 5 on either side are pooled into one cell; that pool joins the
smallest cell only if it still expects fewer than 1, so a new category that takes real traffic
keeps its own cell and its signal.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from monitoring_pipeline.stats.drift.base import StatOutcome, StatTest, register
from monitoring_pipeline.stats.drift.binning import binned_counts
from monitoring_pipeline.stats.profiles import Profile

MIN_EXPECTED = 5.0  # cells expecting fewer are pooled into one cell (Cochran's rule of thumb)
MIN_POOLED = 1.0  # a pool expecting fewer than this joins the smallest cell
CRESSIE_READ = 2 / 3


def homogeneity(
    ref_counts: np.ndarray, cur_counts: np.ndarray, power: float = 1.0
) -> tuple[float, int, float]:
    """(statistic, degrees of freedom, p-value) of the 2 x k table, sparse cells pooled. `power` is
    Cressie and Read's lambda: 1 is Pearson's chi-square, 2/3 (CRESSIE_READ) the statistic whose chi-square
    approximation holds best in small samples (Cressie & Read 1984; measured here at 200 rows against
    500k on 3 to 40 categories: the share of p < 1e-4 is 1.0x nominal, Pearson's 1.6-2.3x)."""
    table = np.vstack([ref_counts, cur_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    sparse = (_expected(table) < MIN_EXPECTED).any(axis=0)
    if sparse.any() and (~sparse).any():
        pooled = table[:, sparse].sum(axis=1)
        table = table[:, ~sparse]
        if (_expected(np.column_stack([table, pooled]))[:, -1] < MIN_POOLED).any():
            table[:, np.argmin(table.sum(axis=0))] += pooled  # pool too thin: join the smallest cell
        else:
            table = np.column_stack([table, pooled])
    if table.shape[1] < 2:
        return 0.0, 0, 1.0
    expected = _expected(table)
    if power == 1.0:
        statistic = float(np.sum((table - expected) ** 2 / expected))
    else:
        statistic = float(2 / (power * (power + 1)) * np.sum(table * ((table / expected) ** power - 1)))
    dof = table.shape[1] - 1
    return statistic, dof, float(chi2.sf(statistic, dof))


def _expected(table: np.ndarray) -> np.ndarray:
    return table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()


def _chisquare(ref: Profile, cur: Profile) -> StatOutcome:
    statistic, dof, p = homogeneity(*binned_counts(ref, cur, n_bins=10))
    return StatOutcome(score=p, p_value=p, details={"statistic": statistic, "dof": dof})


CHISQUARE = register(
    StatTest(
        "chisquare",
        frozenset({"numerical", "categorical"}),
        "p_value",
        0.05,
        _chisquare,
        "chi-square test of homogeneity (p-value; flags negligible shifts on large samples)",
    )
)
