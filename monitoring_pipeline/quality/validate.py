"""Run an expectation suite with Great Expectations on a DataFrame; return plain results.

`great_expectations` costs seconds and hundreds of MB to import, so it is imported on the first
validation, never when the Dagster definitions load. An expectation whose metric errors inside GX
(`exception_info`) is a failure carrying the message, never a pass.

GX's cost is per expectation, not per row (~10-15 ms each on this machine, building its metric
graph), so a run of many small hours is validated together: `validate_hours` gives each hour the
results `validate` would give it alone, from one GX pass over the hours (see there).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitoring_pipeline.quality.suite import ExpectationSpec

BATCH_ROWS = 200_000  # hours validated together up to this many rows; a bigger hour is validated alone
_LOCK = threading.Lock()
_CONTEXT: dict[str, Any] = {}


@dataclass(frozen=True)
class ExpectationResult:
    expectation: str
    column: str
    success: bool
    observed: float | None  # share of rows meeting the expectation (1 - unexpected share)
    threshold: float
    unexpected_count: int | None
    unexpected_share: float | None
    sample_values: list[str] = field(default_factory=list)
    error: str | None = None
    description: str = ""


def _batch_definition() -> Any:
    """A process-wide ephemeral GX context with a pandas dataframe asset (built once, ~0.2 s).

    GX fingerprints every frame under `HASH_THRESHOLD` bytes it is given (an MD5 of pandas' row hashes,
    twice per validation) for a batch marker that no result depends on: on a 1M-row hour that was
    ~0.45 s of ~1 s. The threshold is set to 0, so frames are no longer hashed."""
    with _LOCK:
        if "batch" not in _CONTEXT:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig
            from great_expectations.execution_engine import pandas_execution_engine

            pandas_execution_engine.HASH_THRESHOLD = 0  # see above: a marker only, never a result

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            asset = context.data_sources.add_pandas("monitoring").add_dataframe_asset("hour")
            _CONTEXT.update(gx=gx, context=context, batch=asset.add_batch_definition_whole_dataframe("whole"))
        return _CONTEXT["batch"]


def validate(frame: Any, specs: Sequence[ExpectationSpec], name: str = "suite") -> list[ExpectationResult]:
    """Validate `frame` (pandas) against `specs`; one result per spec, in the specs' order.

    GX's pandas engine fingerprints (hashes) every frame it is given, twice, and for a column with
    nulls it copies the whole frame without them for each expectation. So columns without nulls are
    validated together on one frame, and each column with nulls on a frame of its own: on a
    1M-row, 27-column hour this took validation from 3.8 s to the figure in benchmarks/.
    """
    batch = _batch_definition()
    raw: dict[int, Any] = {}
    for columns, indices in _groups(frame, specs):
        narrow = frame[[c for c in columns if c in frame.columns]]
        raw.update(_run(batch, narrow, {i: specs[i] for i in indices}, f"{name}_{len(raw)}"))
    return [_result(spec, raw.get(i)) for i, spec in enumerate(specs)]


def _groups(frame: Any, specs: Sequence[ExpectationSpec]) -> list[tuple[list[str], list[int]]]:
    """(columns, spec indices) per frame to validate: null-free columns together, the others alone."""
    with_nulls = {c for c in frame.columns if frame[c].isna().any()}
    together: tuple[list[str], list[int]] = ([], [])
    alone: dict[str, list[int]] = {}
    for i, spec in enumerate(specs):
        if spec.column in with_nulls:
            alone.setdefault(spec.column, []).append(i)
        else:
            if spec.column not in together[0]:
                together[0].append(spec.column)
            together[1].append(i)
    groups = [([column], indices) for column, indices in alone.items()]
    return ([together] if together[1] else []) + groups


def _run(
    batch: Any, frame: Any, specs: dict[Any, ExpectationSpec], name: str, result_format: Any = "BASIC"
) -> dict[Any, Any]:
    gx = _CONTEXT["gx"]
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=name)
    keys = list(specs)
    for i, spec in enumerate(specs.values()):
        column = {} if "column_A" in spec.kwargs else {"column": spec.column}
        suite.add_expectation(getattr(gxe, spec.gx_type)(**column, meta={"index": i}, **spec.kwargs))
    results = batch.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, result_format=result_format
    )
    return {keys[int(r.expectation_config.meta["index"])]: r for r in results.results}


def _result(spec: ExpectationSpec, raw: Any) -> ExpectationResult:
    if raw is None:
        return _outcome(spec, "no result returned by Great Expectations")
    error = _error_message(raw.exception_info)
    if error is not None:
        return _outcome(spec, error)
    result = raw.result or {}
    samples = [str(v) for v in (result.get("partial_unexpected_list") or [])[:5]]
    count, percent = result.get("unexpected_count"), result.get("unexpected_percent")
    return _outcome(spec, None, bool(raw.success), count, percent, samples)


def _outcome(
    spec: ExpectationSpec,
    error: str | None,
    success: bool = False,
    unexpected_count: int | None = None,
    unexpected_percent: float | None = None,
    samples: list[str] | None = None,
) -> ExpectationResult:
    base = dict(
        expectation=spec.gx_type, column=spec.column, threshold=spec.threshold, description=spec.description
    )
    if error is not None:
        return ExpectationResult(
            **base, success=False, observed=None, unexpected_count=None, unexpected_share=None, error=error
        )
    share = unexpected_percent / 100 if unexpected_percent is not None else None
    return ExpectationResult(
        **base,
        success=success,
        observed=None if share is None else 1 - share,
        unexpected_count=unexpected_count,
        unexpected_share=share,
        sample_values=samples or [],
    )


def _error_message(info: Any) -> str | None:
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    messages = [
        v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")
    ]
    return "; ".join(sorted({m for m in messages if m})) or None


# ---- many hours in one pass ---------------------------------------------------------------------------

_PAIR = {"ignore_row_if": "either_value_is_missing", "or_equal": True}
_SPLITTABLE = (  # row-wise: each row is expected or not on its own, so an hour's rows give its result
    "ExpectColumnValuesToNotBeNull",
    "ExpectColumnValuesToBeUnique",
    "ExpectColumnValuesToBeBetween",
    "ExpectColumnValuesToBeInSet",
)
_SEP = "\x1f"  # between an hour's number and a value in a key qualified by the hour


def batches(rows: Sequence[int], budget: int = BATCH_ROWS) -> list[list[int]]:
    """Positions of the hours to validate together: up to `budget` rows in all, in order; an empty hour
    or one over the budget alone."""
    out: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, n in enumerate(rows):
        if n == 0 or n > budget:
            out.append([i])
            continue
        if current and total + n > budget:
            out.append(current)
            current, total = [], 0
        current.append(i)
        total += n
    return out + ([current] if current else [])


def validate_hours(
    frames: Sequence[Any], suites: Sequence[Sequence[ExpectationSpec]], name: str = "suite"
) -> list[list[ExpectationResult]]:
    """`validate(frames[i], suites[i])` for every hour i, with the same results, in few GX passes.

    The hours of a batch (`batches`) are concatenated and each expectation of their suites runs once
    over them (result format COMPLETE: the unexpected rows' indices). Each hour's count, share,
    samples and success are then taken from its own rows, by GX's own rule: `mostly` of the non-null
    rows (of all rows for not-null), vacuously true without any. Parameters that differ between the
    hours stay per hour: a range becomes two inclusive column-pair comparisons against the hour's own
    bounds (ExpectColumnPairValuesAToBeGreaterThanB, nulls ignored as Between ignores them); a known
    set, and uniqueness, are tested on values qualified by the hour. A suite that cannot be split
    this way is validated hour by hour."""
    assert len(frames) == len(suites), "one suite per hour"
    out: list[list[ExpectationResult]] = [[] for _ in frames]
    for positions in batches([len(f) for f in frames]):
        if len(positions) == 1:
            out[positions[0]] = validate(frames[positions[0]], suites[positions[0]], name)
            continue
        together = _validate_together([frames[i] for i in positions], [suites[i] for i in positions], name)
        for i, results in zip(positions, together, strict=True):
            out[i] = results
    return out


@dataclass(frozen=True)
class _Part:
    """One GX expectation over the concatenated hours, standing for one slot of the hours' suites."""

    spec: ExpectationSpec  # what GX runs, on columns of the combined frame
    columns: tuple[str, ...]  # the combined frame's columns it reads


def _validate_together(
    frames: Sequence[Any], suites: Sequence[Sequence[ExpectationSpec]], name: str
) -> list[list[ExpectationResult]]:
    import pandas as pd

    def one_by_one() -> list[list[ExpectationResult]]:
        return [validate(f, s, name) for f, s in zip(frames, suites, strict=True)]

    if any(list(f.columns) != list(frames[0].columns) for f in frames):
        return one_by_one()
    combined = _concat(frames)
    lengths = np.array([len(f) for f in frames])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    spans = [slice(int(a), int(a + n)) for a, n in zip(starts, lengths, strict=True)]
    slots: dict[tuple[str, str, int], dict[int, tuple[int, ExpectationSpec]]] = {}
    for h, specs in enumerate(suites):
        seen: Counter[tuple[str, str]] = Counter()
        for i, spec in enumerate(specs):
            if spec.column not in combined.columns:
                return one_by_one()
            slots.setdefault((spec.gx_type, spec.column, seen[spec.gx_type, spec.column]), {})[h] = (i, spec)
            seen[spec.gx_type, spec.column] += 1
    extra: dict[str, Any] = {}
    parts: dict[tuple[str, str, int], list[_Part]] = {}
    for key, entries in slots.items():
        planned = _plan(key, entries, combined, spans, extra)
        if planned is None:
            return one_by_one()
        parts[key] = planned
    combined = pd.concat([combined, pd.DataFrame(extra, index=combined.index)], axis=1) if extra else combined

    batch = _batch_definition()
    specs = {(key, j): part.spec for key, planned in parts.items() for j, part in enumerate(planned)}
    needed = list(dict.fromkeys(c for planned in parts.values() for part in planned for c in part.columns))
    complete = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
    raw = _run(batch, combined[needed], specs, f"{name}_hours", complete)  # one pass: the frame is small

    results: list[list[ExpectationResult | None]] = [[None] * len(s) for s in suites]
    nonnull = {
        c: np.add.reduceat(combined[c].notna().to_numpy(np.int64), starts) for c in {k[1] for k in slots}
    }
    ends = np.append(starts, len(combined))
    for key, entries in slots.items():
        found = [raw.get((key, j)) for j in range(len(parts[key]))]
        messages = [
            "no result returned by Great Expectations" if r is None else _error_message(r.exception_info)
            for r in found
        ]
        error = next((m for m in messages if m), None)
        unexpected = np.array([], np.int64)
        if error is None:  # every part has a result
            indices = [
                np.asarray((r.result or {}).get("unexpected_index_list") or [], np.int64) for r in found
            ]
            unexpected = np.unique(np.concatenate(indices))
        cut = np.searchsorted(unexpected, ends)  # the hours' rows are consecutive: each hour's are a slice
        column = key[1]
        for h, (i, spec) in entries.items():
            if error is not None:
                results[h][i] = _outcome(spec, error)
                continue
            rows = unexpected[cut[h] : cut[h + 1]]
            samples = [str(v) for v in combined[column].iloc[rows[:5]].tolist()]
            results[h][i] = _split(spec, len(rows), int(lengths[h]), int(nonnull[column][h]), samples)
    return [[r for r in hour if r is not None] for hour in results]


def _split(
    spec: ExpectationSpec, unexpected: int, total: int, nonnull: int, samples: list[str]
) -> ExpectationResult:
    """One hour's result from its own rows, as GX computes it (ColumnMapExpectation._validate and
    ExpectColumnValuesToNotBeNull._validate): `mostly` defaults to 1."""
    mostly = float(spec.kwargs.get("mostly", 1.0))
    considered = total if spec.gx_type == "ExpectColumnValuesToNotBeNull" else nonnull
    if total == 0 or considered == 0:
        return _outcome(spec, None, True, unexpected, None, samples)
    success = (float(considered) - float(unexpected)) / float(considered) >= mostly
    return _outcome(spec, None, success, unexpected, unexpected / considered * 100, samples)


def _plan(
    key: tuple[str, str, int],
    entries: dict[int, tuple[int, ExpectationSpec]],
    combined: Any,
    spans: Sequence[slice],
    extra: dict[str, Any],
) -> list[_Part] | None:
    """The GX expectations over the combined hours that stand for one slot (None: it cannot be split)."""
    import pandas as pd

    gx_type, column, _ = key
    kwargs = [{k: v for k, v in spec.kwargs.items() if k != "mostly"} for _, spec in entries.values()]
    tag = f"__mp{len(extra)}_{column}"
    if gx_type == "ExpectColumnValuesToBeUnique":
        if any(kwargs):
            return None
        codes = np.full(len(combined), np.nan)
        offset = 0
        for h, span in enumerate(spans):  # the hour's values, numbered apart from every other hour's
            found, uniques = pd.factorize(combined[column].iloc[span])
            codes[span] = np.where(found < 0, np.nan, found + offset) if h in entries else np.nan
            offset += len(uniques)
        extra[tag] = codes
        return [_Part(ExpectationSpec(gx_type, tag), (tag,))]
    if gx_type not in _SPLITTABLE:  # only row-wise tests split by hour (not e.g. a column's max)
        return None
    if len(entries) == len(spans) and all(k == kwargs[0] for k in kwargs):
        return [_Part(ExpectationSpec(gx_type, column, kwargs[0]), (column,))]
    bounds = [(k.get("min_value"), k.get("max_value")) for k in kwargs]
    if (
        gx_type == "ExpectColumnValuesToBeBetween"
        and all(set(k) == {"min_value", "max_value"} for k in kwargs)
        and all(lo is not None and hi is not None and lo <= hi for lo, hi in bounds)
    ):  # GX refuses inverted or missing bounds: such hours are validated alone
        lo, hi = np.full(len(combined), np.nan), np.full(len(combined), np.nan)
        for h, (_, spec) in entries.items():
            low, high = spec.kwargs["min_value"], spec.kwargs["max_value"]
            lo[spans[h]], hi[spans[h]] = low, high
        extra[f"{tag}_lo"], extra[f"{tag}_hi"] = lo, hi
        pair = "ExpectColumnPairValuesAToBeGreaterThanB"
        return [
            _Part(ExpectationSpec(pair, column, {"column_A": column, "column_B": f"{tag}_lo", **_PAIR}),
                  (column, f"{tag}_lo")),
            _Part(ExpectationSpec(pair, column, {"column_A": f"{tag}_hi", "column_B": column, **_PAIR}),
                  (column, f"{tag}_hi")),
        ]  # fmt: skip
    if gx_type == "ExpectColumnValuesToBeInSet" and all(set(k) == {"value_set"} for k in kwargs):
        values = combined[column]
        sets = [spec.kwargs["value_set"] for _, spec in entries.values()]
        kinds = values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype) else values
        if pd.api.types.infer_dtype(kinds, skipna=True) not in ("string", "empty") or not all(
            isinstance(v, str) for s in sets for v in s
        ):
            return None
        hour = np.full(len(combined), "", dtype=object)
        for h in entries:
            hour[spans[h]] = f"{h}{_SEP}"
        keyed = pd.Series(hour, index=combined.index) + values.astype(object).where(values.notna(), "")
        keyed = keyed.where(values.notna() & (hour != ""), None)
        extra[tag] = pd.Categorical(keyed)
        value_set = [f"{h}{_SEP}{v}" for h, (_, spec) in entries.items() for v in spec.kwargs["value_set"]]
        return [_Part(ExpectationSpec(gx_type, tag, {"value_set": value_set}), (tag,))]
    return None


def _concat(frames: Sequence[Any]) -> Any:
    """The hours one under the other (index 0..n-1); categorical columns stay categorical."""
    import pandas as pd

    frames = list(frames)
    for c in frames[0].columns:
        if all(isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames):
            categories = pd.Index(list(dict.fromkeys(v for f in frames for v in f[c].cat.categories)))
            frames = [f.assign(**{c: f[c].cat.set_categories(categories)}) for f in frames]
    return pd.concat(frames, ignore_index=True)
