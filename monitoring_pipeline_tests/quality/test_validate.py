"""Validating many hours in one Great Expectations pass gives every hour exactly the results GX gives
it alone: GX itself, hour by hour, is the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring_pipeline.quality import validate as validate_module
from monitoring_pipeline.quality.suite import ExpectationSpec
from monitoring_pipeline.quality.validate import BATCH_ROWS, batches, validate, validate_hours

CATEGORIES = ["grocery", "fuel", "online", "travel"]


def hour_frame(rng: np.random.Generator, n: int, incident: str | None = None) -> pd.DataFrame:
    ids = np.arange(n, dtype=float)  # factorized prediction ids, as the data-quality check passes them
    amount = rng.lognormal(3, 1, n)
    category = rng.choice(CATEGORIES, n).astype(object)
    device = rng.choice(["mobile", "desktop"], n).astype(object)
    if incident == "nulls":
        device[rng.random(n) < 0.3] = None
        amount[:3] = np.nan
    elif incident == "range":
        amount[: n // 10] *= 1000  # a unit bug on a tenth of the rows
    elif incident == "ids":
        ids[5:9] = 4.0  # duplicates
        ids[20] = np.nan
    elif incident == "category":
        category[: n // 5] = "crypto"
    elif incident == "all_null":
        amount[:] = np.nan
        device[:] = None
    return pd.DataFrame(
        {
            "id": ids,
            "amount": amount,
            "category": pd.Categorical(category),
            "device": pd.Categorical(device),
            "score": rng.random(n),
        }
    )


def suite(hi: float | None, categories: list[str] | None, mostly: float = 0.99) -> list[ExpectationSpec]:
    specs = [
        ExpectationSpec("ExpectColumnValuesToNotBeNull", "id"),
        ExpectationSpec("ExpectColumnValuesToBeUnique", "id"),
        ExpectationSpec("ExpectColumnValuesToNotBeNull", "amount", {"mostly": 0.95}, 0.95),
        ExpectationSpec("ExpectColumnValuesToNotBeNull", "device", {"mostly": 0.95}, 0.95),
        ExpectationSpec("ExpectColumnValuesToBeBetween", "score", {"min_value": 0.0, "max_value": 1.0}),
    ]
    if hi is not None:  # a range derived from the previous hours: it differs from hour to hour
        specs.append(
            ExpectationSpec(
                "ExpectColumnValuesToBeBetween",
                "amount",
                {"min_value": -hi / 4, "max_value": hi, "mostly": mostly},
                mostly,
            )
        )
    if categories is not None:
        in_set = {"value_set": categories, "mostly": 0.9}
        specs.append(ExpectationSpec("ExpectColumnValuesToBeInSet", "category", in_set, 0.9))
    devices = {"value_set": ["mobile", "desktop"]}
    specs.append(ExpectationSpec("ExpectColumnValuesToBeInSet", "device", devices))
    return specs


def as_rows(results: list) -> list[dict]:
    return [r.__dict__ for r in results]


def gx_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of expectations of every GX validation from now on."""
    passes: list[int] = []
    real = validate_module._run
    monkeypatch.setattr(validate_module, "_run", lambda *a, **k: passes.append(len(a[2])) or real(*a, **k))
    return passes


def test_many_hours_in_one_pass_equal_each_hour_validated_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    plan = [  # (rows, incident, range's upper bound, known categories)
        (300, None, 400.0, CATEGORIES),
        (250, "nulls", 380.0, CATEGORIES),
        (400, "range", 420.0, [*CATEGORIES[:3], "travel"]),
        (0, None, 410.0, CATEGORIES),  # an empty hour
        (350, "ids", None, CATEGORIES),  # no range yet (no recent profiles)
        (280, "category", 400.0, None),  # no known set (pooled categories)
        (200, "all_null", 390.0, CATEGORIES),  # nothing to judge: vacuously true, share None
        (330, None, 30.0, CATEGORIES[:2]),  # a tight range and set: many failures, samples per hour
    ]
    frames = [hour_frame(rng, n, incident) for n, incident, _, _ in plan]
    suites = [suite(hi, cats) for _, _, hi, cats in plan]

    passes = gx_passes(monkeypatch)
    together = validate_hours(frames, suites, name="t")
    # one pass for the empty hour, one for the 7 others (their ranges and sets kept per hour)
    assert len(passes) == 2 and passes[0] == len(suites[3]), passes
    alone = [validate(f, s, name="t") for f, s in zip(frames, suites, strict=True)]

    assert [len(r) for r in together] == [len(s) for s in suites]
    for h, (got, want) in enumerate(zip(together, alone, strict=True)):
        for g, w in zip(as_rows(got), as_rows(want), strict=True):
            assert g == w, (h, w["expectation"], w["column"])  # shares too: GX's own arithmetic
    # the incidents are seen, in their own hours only
    failed = [{(r.expectation, r.column) for r in hour if not r.success} for hour in together]
    assert failed[1] == {("ExpectColumnValuesToNotBeNull", "device")}
    assert ("ExpectColumnValuesToBeBetween", "amount") in failed[2]
    assert failed[4] == {("ExpectColumnValuesToNotBeNull", "id"), ("ExpectColumnValuesToBeUnique", "id")}
    assert failed[5] == set()  # 20 % crypto: no known set for this hour, and device is fine
    assert failed[0] == failed[3] == set()
    not_null = "ExpectColumnValuesToNotBeNull"
    assert failed[6] == {(not_null, "amount"), (not_null, "device")}
    vacuous = [r for r in together[6] if r.column in ("amount", "device") and r.expectation != not_null]
    assert [(r.success, r.observed) for r in vacuous] == [(True, None)] * 2  # no value to judge
    assert {"ExpectColumnValuesToBeBetween", "ExpectColumnValuesToBeInSet"} <= {e for e, _ in failed[7]}
    unique = next(r for r in together[4] if r.expectation == "ExpectColumnValuesToBeUnique")
    assert unique.unexpected_count == 5  # id 4.0 five times; no hour's ids meet another hour's


def test_hours_with_equal_suites_and_a_known_set_that_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    frames = [hour_frame(rng, 150, "category" if h == 2 else None) for h in range(4)]
    suites = [suite(500.0, CATEGORIES if h != 3 else [*CATEGORIES, "crypto"]) for h in range(4)]
    passes = gx_passes(monkeypatch)
    together = validate_hours(frames, suites)
    assert len(passes) == 1
    for got, frame, specs in zip(together, frames, suites, strict=True):
        assert as_rows(got) == as_rows(validate(frame, specs))
    in_set = [next(r for r in hour if r.column == "category") for hour in together]
    assert [r.success for r in in_set] == [True, True, False, True]
    assert in_set[2].unexpected_count == 30 and in_set[2].sample_values == ["crypto"] * 5


def test_batches_bound_the_rows_held_together() -> None:
    assert batches([10, 20, 30], budget=40) == [[0, 1], [2]]
    assert batches([10, 0, 10, 50, 5], budget=40) == [[1], [3], [0, 2, 4]]
    big = batches([BATCH_ROWS // 3] * 7)
    assert [len(b) for b in big] == [3, 3, 1]


def test_a_suite_that_cannot_be_split_by_rows_is_validated_hour_by_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A column's max is not a row-wise test: the hours' rows together would hide hour 0's failure."""
    frames = [pd.DataFrame({"x": [0.9, 0.1]}), pd.DataFrame({"x": [0.2, 0.3]})]
    suites = [[ExpectationSpec("ExpectColumnMaxToBeBetween", "x", {"max_value": 0.5})]] * 2
    passes = gx_passes(monkeypatch)
    together = validate_hours(frames, suites)
    assert len(passes) == 2
    assert [r.success for (r,) in together] == [False, True]
    assert together == [validate(f, s) for f, s in zip(frames, suites, strict=True)]


def test_frames_are_not_fingerprinted_and_the_results_are_those_of_gx_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GX's batch fingerprint (a hash of the whole frame) is turned off: no result depends on it."""
    from great_expectations.execution_engine import pandas_execution_engine

    frame = hour_frame(np.random.default_rng(3), 3000, "nulls")
    specs = suite(200.0, CATEGORIES[:3])
    ours = validate(frame, specs)
    batch = validate_module._batch_definition()

    def markers() -> dict:
        return batch.get_batch(batch_parameters={"dataframe": frame}).batch_markers

    assert "pandas_data_fingerprint" not in markers()
    monkeypatch.setattr(pandas_execution_engine, "HASH_THRESHOLD", 1e9)  # GX's default
    assert "pandas_data_fingerprint" in markers()
    assert as_rows(validate(frame, specs)) == as_rows(ours)
    assert not all(r.success for r in ours)  # the incident is found either way
