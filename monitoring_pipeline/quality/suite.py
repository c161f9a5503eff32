"""Expectation suites built from the config, as plain data (no Great Expectations import here).

Per model: prediction id not null and unique; each feature not null above `1 - max_null_share`;
numerical values within the declared range or one derived from the last hours' profiles (their
min..max widened by a quarter of the span on each side), for 99 % of rows; categorical values in
the declared set or the set seen in the last hours, for `min_known_category_share` of rows;
classifier outputs valid (numerical predictions are probabilities in [0, 1], classes in the known set).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitoring_pipeline.config import Column, ModelConfig
from monitoring_pipeline.stats.profiles import OTHER, CategoricalProfile, NumericProfile, Profile

RANGE_MOSTLY = 0.99
RANGE_MARGIN = 0.25


@dataclass(frozen=True)
class ExpectationSpec:
    gx_type: str  # the Great Expectations class name
    column: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    threshold: float = 1.0  # the share of rows that must meet it ("mostly")
    description: str = ""


def derived_range(profile: Profile | None) -> tuple[float, float] | None:
    if not isinstance(profile, NumericProfile) or profile.count == 0:
        return None
    span = profile.max - profile.min
    return profile.min - RANGE_MARGIN * span, profile.max + RANGE_MARGIN * span


def known_values(column: Column, profile: Profile | None) -> list[str] | None:
    """Declared values, else the categories seen (None when unknown or pooled as 'other')."""
    if column.values:
        return list(column.values)
    if not isinstance(profile, CategoricalProfile) or not profile.counts or OTHER in profile.counts:
        return None
    return sorted(profile.counts)


def build_suite(model: ModelConfig, recent: Mapping[str, Profile]) -> list[ExpectationSpec]:
    """The model's expectations; `recent` holds the merged profiles of the last hours (may be empty)."""
    max_null = model.thresholds.max_null_share
    known_share = model.thresholds.min_known_category_share
    specs = [
        ExpectationSpec(
            "ExpectColumnValuesToNotBeNull", model.id_column, description="prediction id present"
        ),
        ExpectationSpec("ExpectColumnValuesToBeUnique", model.id_column, description="prediction id unique"),
    ]
    for column in model.features:
        specs.append(
            ExpectationSpec(
                "ExpectColumnValuesToNotBeNull",
                column.name,
                {"mostly": 1 - max_null},
                1 - max_null,
                f"at most {max_null:.0%} nulls",
            )
        )
    for column in model.monitored_columns:
        is_prediction = column in model.predictions
        if column.kind == "numerical":
            bounds = (0.0, 1.0) if is_prediction and model.task == "classification" else column.range
            bounds = bounds or derived_range(recent.get(column.name))
            if bounds is not None:
                mostly = 1.0 if is_prediction and model.task == "classification" else RANGE_MOSTLY
                specs.append(
                    ExpectationSpec(
                        "ExpectColumnValuesToBeBetween",
                        column.name,
                        {"min_value": bounds[0], "max_value": bounds[1], "mostly": mostly},
                        mostly,
                        f"within [{bounds[0]:.4g}, {bounds[1]:.4g}]",
                    )
                )
        else:
            values = known_values(column, recent.get(column.name))
            if values is not None:
                specs.append(
                    ExpectationSpec(
                        "ExpectColumnValuesToBeInSet",
                        column.name,
                        {"value_set": values, "mostly": known_share},
                        known_share,
                        f"in the known set of {len(values)} values",
                    )
                )
    return specs
