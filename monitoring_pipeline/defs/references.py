"""Build a model's static reference (a fixed window or a training file) as a run on the Dagster instance,
in this process: what `monitoring-pipeline reference` does. The run and its materialization show in
the UI like one launched there."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from monitoring_pipeline.config import ModelConfig, MonitorsConfig
from monitoring_pipeline.defs.drift_assets import StaticReferenceConfig
from monitoring_pipeline.defs.factory import build_definitions
from monitoring_pipeline.defs.sensors import first_line
from monitoring_pipeline.pipeline.references import is_static


@dataclass(frozen=True)
class ReferenceRun:
    success: bool
    run_id: str
    message: str  # the reference's window and size, or the first line of why it was not built


def materialize_reference(
    config: MonitorsConfig,
    model: ModelConfig,
    allow_partial: bool = False,
    instance: dg.DagsterInstance | None = None,
) -> ReferenceRun:
    """Materialize `<model>/reference_profile` (a static reference only: trailing ones are per hour)."""
    if not is_static(model):
        raise ValueError(
            f"{model.name}: a trailing reference is built hour by hour with the hours it serves "
            "(monitoring-pipeline backfill); `reference` builds fixed-window and file references"
        )
    if instance is None:  # the instance's own, closed at the end (its pooled SQLite connections)
        with dg.DagsterInstance.get() as owned:
            return materialize_reference(config, model, allow_partial, owned)
    key = dg.AssetKey([model.name, "reference_profile"])
    job = build_definitions(config).resolve_implicit_global_asset_job_def()
    op = key.to_python_identifier()  # the asset's op: `<model>__reference_profile`
    result = job.execute_in_process(
        asset_selection=[key],
        run_config=dg.RunConfig(ops={op: StaticReferenceConfig(allow_partial=allow_partial)}),
        instance=instance,
        raise_on_error=False,
    )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        reason = first_line(failures[0].step_failure_data.error) if failures else "the run failed"
        return ReferenceRun(False, result.run_id, reason)
    [materialization] = result.asset_materializations_for_node(op)
    window = materialization.metadata["reference_window"].value
    return ReferenceRun(True, result.run_id, f"reference built: {window}")
