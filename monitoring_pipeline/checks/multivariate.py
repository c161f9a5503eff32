"""What the multivariate drift check finds for one hour (no Dagster here)."""

from __future__ import annotations

from monitoring_pipeline.checks.evaluations import Verdict
from monitoring_pipeline.config import ModelConfig
from monitoring_pipeline.pipeline.multivariate import HourMultivariate


def multivariate_within_band(model: ModelConfig, result: HourMultivariate) -> Verdict:
    """The hour's mean PCA reconstruction error inside the band its reference's hours give (each scored
    against a fit without it), widened for the hour's rows. Without enough reference hours the hour is
    reported, not judged: the check passes and says why."""
    ref, score = result.reference, result.score
    details = {
        "status": result.status,
        "lower_threshold": result.lower,
        "upper_threshold": result.upper,
        "expected_error": ref.band.expected if ref.band else None,
        "rows": score.rows,
        "reference_window": ref.description,
    }
    if result.status == "no_reference":
        return Verdict(result.hour, True, None, None, f"not judged: {ref.reason}", details)
    if result.status == "no_data":
        return Verdict(result.hour, True, None, None, "not judged: the hour has no rows", details)
    assert result.lower is not None and result.upper is not None and ref.band is not None
    above = score.mean > result.upper
    where = "above" if above else ("below" if score.mean < result.lower else "inside")
    text = (
        f"mean reconstruction error {score.mean:.4g} over {score.rows} rows is {where} the band "
        f"[{result.lower:.4g}, {result.upper:.4g}] (reference hours: {ref.band.expected:.4g} on average; "
        f"{len(ref.fit.components) if ref.fit else 0} components)"
    )
    if result.drifted:
        text += (
            ": the features no longer move together as in the reference (a correlation changed, e.g. a "
            "join that misaligned columns), even where each one alone looks unchanged"
            if above
            else ": the features move together more tightly than in the reference (a feature stuck, or "
            "copies of one value)"
        )
    threshold = result.upper if above or not result.drifted else result.lower
    return Verdict(result.hour, not result.drifted, score.mean, threshold, text, details)
