"""Multivariate drift by PCA reconstruction error (no I/O, no Dagster: numpy only).

What it catches that the univariate tests cannot: a change in how features move together with every
marginal unchanged (a join that misaligns two columns, a feature computed from the wrong row). PCA fitted
on the reference learns the reference's correlation structure; rows that break it are reconstructed
badly from the kept components, so the hour's mean reconstruction error rises.

The method follows NannyML's DataReconstructionDriftCalculator, so figures are comparable:
- numerical features: nulls imputed with the reference mean, then standardized with the reference mean
  and (population) standard deviation;
- categorical features: nulls imputed with the reference's most frequent value, then frequency-encoded
  with the reference frequencies (a value the reference never saw encodes as 0), then standardized;
- PCA keeping the fewest components whose explained variance ratio exceeds `variance` (65 %);
- a row's error is the Euclidean norm of z - ẑ (its standardized vector minus its reconstruction); the
  hour's score is the mean over its rows.

Where it differs: the alert band. NannyML scores the reference's own chunks against a fit that contains
them, which makes the band too tight (nannyml #426). Here each reference hour is scored against a fit on
the OTHER reference hours (`leave_one_hour_out`), so the reference hours are judged exactly as a current
hour is (against data that does not contain them), and the band is widened for the current hour's
sample size (`Band.limits`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Categories:
    """A categorical column as dictionary codes: row i holds `values[codes[i]]`, code -1 is a null
    (what an Arrow dictionary array gives without copying strings)."""

    codes: np.ndarray
    values: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def of(cls, items: Sequence[object]) -> Categories:
        """From plain values (None = null): for tests and small inputs."""
        values = tuple(sorted({str(v) for v in items if v is not None}))
        index = {v: i for i, v in enumerate(values)}
        codes = np.array([-1 if v is None else index[str(v)] for v in items], dtype=np.int64)
        return cls(codes, values)


CHUNK_ROWS = 65_536  # rows scored at a time
# A table's feature columns: float arrays (NaN = null) or Categories, all of one length.
Columns = Mapping[str, "np.ndarray | Categories"]


def rows_of(columns: Columns) -> int:
    lengths = {len(c) for c in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"the columns differ in length: {sorted(lengths)}")
    return lengths.pop()


def take(columns: Columns, rows: np.ndarray) -> dict[str, np.ndarray | Categories]:
    """The rows selected by `rows` (a boolean mask or indices) of every column."""
    return {
        name: Categories(c.codes[rows], c.values) if isinstance(c, Categories) else c[rows]
        for name, c in columns.items()
    }


@dataclass(frozen=True)
class Encoding:
    """The reference's encoding constants, fitted once and applied to any rows (`matrix`)."""

    names: tuple[str, ...]
    fill: tuple[float, ...]  # numerical: the reference mean (imputed for nulls); categorical: unused
    center: np.ndarray  # per column, the mean of the encoded (imputed, frequency-mapped) reference
    scale: np.ndarray  # per column, its population standard deviation (1 where it is 0)
    frequencies: Mapping[str, Mapping[str, float]]  # categorical: value -> share of the imputed reference
    modes: Mapping[str, str | None]  # categorical: the most frequent value (imputed for nulls)

    def matrix(self, columns: Columns) -> np.ndarray:
        """The rows as standardized vectors (rows x columns)."""
        out = np.empty((rows_of(columns), len(self.names)))
        for j, name in enumerate(self.names):
            out[:, j] = self._encoded(name, j, columns[name])
        out -= self.center
        out /= self.scale
        return out

    def _encoded(self, name: str, j: int, column: np.ndarray | Categories) -> np.ndarray:
        if name not in self.frequencies:
            values = np.asarray(column, dtype=float)
            return np.where(np.isnan(values), self.fill[j], values)
        if not isinstance(column, Categories):
            raise TypeError(
                f"column {name!r}: categorical in the reference, given as {type(column).__name__}"
            )
        freq, mode = self.frequencies[name], self.modes[name]
        lookup = np.array([freq.get(v, 0.0) for v in column.values] + [freq.get(mode, 0.0) if mode else 0.0])
        return lookup[column.codes]  # code -1 takes the last entry: the mode's frequency


def fit_encoding(reference: Columns) -> Encoding:
    """Encoding constants from the reference rows (imputation, frequencies, mean and std)."""
    return _encode(reference)[0]


def _encode(reference: Columns) -> tuple[Encoding, np.ndarray]:
    """The encoding fitted on the reference, and the reference's rows standardized by it."""
    names = tuple(reference)
    fill, frequencies, modes = [], {}, {}
    for name, column in reference.items():
        if isinstance(column, Categories):
            counts = np.bincount(column.codes[column.codes >= 0], minlength=len(column.values))
            mode = column.values[int(np.argmax(counts))] if counts.sum() else None
            if mode is not None:
                counts[column.values.index(mode)] += int((column.codes < 0).sum())
            total = counts.sum()
            frequencies[name] = {v: c / total for v, c in zip(column.values, counts, strict=True) if c}
            modes[name] = mode
            fill.append(math.nan)
        else:
            values = np.asarray(column, dtype=float)
            finite = values[~np.isnan(values)]
            fill.append(float(finite.mean()) if len(finite) else 0.0)
    partial = Encoding(names, tuple(fill), np.zeros(len(names)), np.ones(len(names)), frequencies, modes)
    encoded = partial.matrix(reference)
    center, scale = encoded.mean(axis=0), encoded.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    encoded -= center
    encoded /= scale
    return Encoding(names, tuple(fill), center, scale, frequencies, modes), encoded


def _principal(covariance: np.ndarray, variance: float) -> tuple[np.ndarray, float]:
    """The fewest principal axes (rows) whose explained variance ratio exceeds `variance` (scikit-learn's
    rule for a fractional `n_components`, which NannyML uses), and the ratio they explain."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.clip(eigenvalues[order], 0, None), eigenvectors[:, order]
    total = eigenvalues.sum()
    if total <= 0:  # every column constant in the reference: nothing to project on
        return np.zeros((0, len(covariance))), 1.0
    cumulative = np.cumsum(eigenvalues) / total
    kept = min(int(np.searchsorted(cumulative, variance, side="right")) + 1, len(eigenvalues))
    return eigenvectors[:, :kept].T.copy(), float(cumulative[kept - 1])


def _residual_norms(z: np.ndarray, components: np.ndarray) -> np.ndarray:
    """|z - z V'V| per row, as z (I - V'V): one d x d product, not a projection and a reconstruction."""
    residual = z @ (np.eye(z.shape[1]) - components.T @ components)
    return np.sqrt(np.einsum("ij,ij->i", residual, residual))


@dataclass(frozen=True)
class Fit:
    """The reference's encoding and principal components: what a row is reconstructed from."""

    encoding: Encoding
    mean: np.ndarray  # of the standardized reference (0 up to rounding; kept for exactness)
    components: np.ndarray  # kept principal axes, one per row (components x columns)
    explained_variance: float  # the share of the reference's variance the kept components explain
    rows: int

    def row_errors(self, columns: Columns) -> np.ndarray:
        """Each row's reconstruction error: the norm of its standardized vector minus its projection
        onto the kept components."""
        rows = rows_of(columns)
        out = np.empty(rows)
        for start in range(0, rows, CHUNK_ROWS):  # a 1M-row hour in slices: no 200 MB temporaries
            part = slice(start, start + CHUNK_ROWS)
            z = self.encoding.matrix(take(columns, part))
            z -= self.mean
            out[part] = _residual_norms(z, self.components)
        return out


def fit(reference: Columns, variance: float = 0.65) -> Fit:
    """Encode the reference and keep the principal components for `variance` of its variance."""
    _check_variance(variance)
    n = rows_of(reference)
    if n < 2:
        raise ValueError(f"a PCA fit needs at least 2 reference rows; got {n}")
    encoding, z = _encode(reference)
    mean = z.mean(axis=0)
    z -= mean
    components, explained = _principal(z.T @ z / (n - 1), variance)
    return Fit(encoding, mean, components, explained, n)


def _check_variance(variance: float) -> None:
    if not 0 < variance < 1:
        raise ValueError(f"variance must be in (0, 1); got {variance}")


@dataclass(frozen=True)
class HourScore:
    """A set of rows' reconstruction errors in brief: their mean, standard deviation and count."""

    mean: float
    std: float
    rows: int

    @classmethod
    def of(cls, errors: np.ndarray) -> HourScore:
        std = float(errors.std(ddof=1)) if len(errors) > 1 else 0.0
        return cls(float(errors.mean()) if len(errors) else math.nan, std, len(errors))


@dataclass(frozen=True)
class Band:
    """Where an unchanged hour's mean reconstruction error falls, from the reference hours each scored
    against a fit without it. An hour's score varies for two reasons: the hours differ (traffic mix,
    time of day: `between_variance`) and a mean of n rows is noisy (`row_std`² / n). The reference
    hours' scores show both, at their own (sample) sizes; their sampling part is subtracted to leave the
    between-hour part, and the current hour's own sampling part is added back at its size. `expected`
    is itself an estimate, the mean of the reference hours' scores: its variance (`expected_variance`)
    widens the band too, which is what bounds it for a huge hour (a prediction interval, not a
    confidence interval for the mean)."""

    expected: float
    between_variance: float
    row_std: float
    sigma: float
    hours: tuple[HourScore, ...]
    expected_variance: float = 0.0

    def limits(self, rows: int) -> tuple[float, float]:
        if rows < 1:
            raise ValueError("an hour with no rows has no band")
        spread = self.between_variance + self.row_std**2 / rows + self.expected_variance
        half = self.sigma * math.sqrt(spread)
        return self.expected - half, self.expected + half


def leave_one_hour_out(
    reference: Columns, hour_of_row: np.ndarray, variance: float = 0.65, sigma: float = 3.0
) -> Band:
    """The band alone (see fit_with_band)."""
    return fit_with_band(reference, hour_of_row, variance, sigma)[1]


def fit_with_band(
    reference: Columns, hour_of_row: np.ndarray, variance: float = 0.65, sigma: float = 3.0
) -> tuple[Fit, Band]:
    """The fit on every reference row (as `fit`) and the band, from one encoding of the rows.

    Score each reference hour against a fit on the other hours and derive the band from their
    scores (see Band). Needs at least 2 hours.

    The standardization and the PCA are refitted without the hour, exactly, from per-hour sums and
    cross-products (one pass over the rows, then a d x d eigendecomposition per hour): what makes
    NannyML's in-sample scores optimistic is the principal axes fitted to the chunk's own noise. The
    value mapping (the numbers imputed for nulls, the category frequencies) is the one fitted on all
    reference hours: an hour moves it by its 1/H share of the counts, which shifts every row alike
    rather than fitting the hour's own rows (a test holds the result to a full refit per hour)."""
    _check_variance(variance)
    labels, inverse = np.unique(hour_of_row, return_inverse=True)
    if len(labels) < 2:
        raise ValueError(f"leave-one-hour-out needs at least 2 reference hours; got {len(labels)}")
    encoding, z = _encode(reference)
    order = np.argsort(inverse, kind="stable")
    parts = np.split(z[order], np.cumsum(np.bincount(inverse))[:-1])
    sums = np.array([p.sum(axis=0) for p in parts])
    grams = np.array([p.T @ p for p in parts])
    all_sums, all_grams, rows = sums.sum(axis=0), grams.sum(axis=0), len(z)
    mean = all_sums / rows
    components, explained = _principal((all_grams - rows * np.outer(mean, mean)) / (rows - 1), variance)
    whole = Fit(encoding, mean, components, explained, rows)
    scores = []
    for part, part_sums, part_gram in zip(parts, sums, grams, strict=True):
        n = rows - len(part)
        mean = (all_sums - part_sums) / n
        second = (all_grams - part_gram) / n - np.outer(mean, mean)  # the other hours' covariance (1/n)
        scale = np.sqrt(np.clip(np.diag(second), 0, None))
        scale = np.where(scale > 1e-12, scale, 1.0)
        components, _ = _principal(second * (n / (n - 1)) / np.outer(scale, scale), variance)
        scores.append(HourScore.of(_residual_norms((part - mean) / scale, components)))
    means = np.array([s.mean for s in scores])
    sizes = np.array([s.rows for s in scores], dtype=float)
    variances = np.array([s.std**2 for s in scores])
    row_variance = float(np.sum(variances * (sizes - 1)) / max(np.sum(sizes - 1), 1))  # pooled
    sampling = float(np.mean(row_variance / sizes))  # the part of the scores' spread their sizes explain
    between = max(0.0, float(means.var(ddof=1)) - sampling)
    expected_variance = (between + sampling) / len(scores)  # of the mean of the hours' scores
    band = Band(
        float(means.mean()), between, math.sqrt(row_variance), sigma, tuple(scores), expected_variance
    )
    return whole, band
