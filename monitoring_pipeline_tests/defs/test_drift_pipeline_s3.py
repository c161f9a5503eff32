"""The demo pipeline's tests (test_drift_pipeline.py) on S3: the same tests, collected here again, with the
demo run on moto's S3 server, in a module of its own so that `--dist loadscope` runs it on its own worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitoring_pipeline.config import MonitorsConfig
from monitoring_pipeline_tests.defs.test_drift_pipeline import (  # noqa: F401 (collected here too)
    demo_pipeline,
    test_demo_quality_incidents_fail_the_right_checks_in_the_right_hours,
    test_drift_summary_and_blocked_hours,
    test_fraud_incidents_are_detected_and_unchanged_features_are_quiet,
    test_merged_hours_equal_the_day_profiled_at_once,
    test_reference_window_is_recorded,
    test_sudden_shift_is_detected_exactly_in_its_hours,
)

pytestmark = pytest.mark.heavy(580)


@pytest.fixture(scope="module")
def demo_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MonitorsConfig]:
    yield from demo_pipeline("s3", request, tmp_path_factory)
