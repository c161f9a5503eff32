"""The result tables: checks (latest and history), alerts, drift, performance, per-hour facts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

TS = sa.DateTime(timezone=True)  # storage.catalog.UTCDateTime stores through this type


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(), nullable=False),
        sa.Column("sink", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("asset", sa.String(), nullable=True),
        sa.Column("check_name", sa.String(), nullable=True),
        sa.Column("partition_hour", TS, nullable=True),
        sa.Column("severity", sa.String(), nullable=True),
        sa.Column("observed", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=True),
        sa.Column("message_id", sa.String(), nullable=True),
        sa.Column("delivery_state", sa.String(), nullable=True),
        sa.Column("attempts", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("alert_id", "sink"),
    )
    op.create_index("ix_alerts_model_hour", "alerts", ["model", "partition_hour"], unique=False)
    _check_table("check_history", "run_id")
    op.create_index("ix_check_history_run", "check_history", ["run_id", "model", "check_name"], unique=False)
    op.create_index("ix_check_history_hour", "check_history", ["model", "partition_hour"], unique=False)
    _check_table("check_results")
    op.create_index("ix_check_results_hour", "check_results", ["model", "partition_hour"], unique=False)
    op.create_table(
        "drift_metrics",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("feature", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("test", sa.String(), nullable=True),
        sa.Column("score_kind", sa.String(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("p_value", sa.Double(), nullable=True),
        sa.Column("alpha", sa.Double(), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("reference_rows", sa.BigInteger(), nullable=True),
        sa.Column("current_rows", sa.BigInteger(), nullable=True),
        sa.Column("reference_window", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("computed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("model", "partition_hour", "feature"),
    )
    op.create_table(
        "drift_summary",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("features", sa.BigInteger(), nullable=True),
        sa.Column("evaluated", sa.BigInteger(), nullable=True),
        sa.Column("drifted", sa.BigInteger(), nullable=True),
        sa.Column("drift_share", sa.Double(), nullable=True),
        sa.Column("prediction_drifted", sa.Boolean(), nullable=True),
        sa.Column("prediction_score", sa.Double(), nullable=True),
        sa.Column("drifted_features", sa.Text(), nullable=True),
        sa.Column("reference_window", sa.Text(), nullable=True),
        sa.Column("computed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("model", "partition_hour"),
    )
    op.create_index("ix_drift_summary_hour", "drift_summary", ["partition_hour"], unique=False)
    op.create_table(
        "hour_facts",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("objects", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("newest_object_at", TS, nullable=True),
        sa.Column("loaded_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("model", "partition_hour"),
    )
    _performance_table("model_performance")
    _performance_table("model_performance_history", "computed_at")


def _check_table(name: str, *extra_key: str) -> None:
    """check_results (the latest evaluation per check and hour) and check_history (one row per run)."""
    op.create_table(
        name,
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("check_name", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("asset", sa.String(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("severity", sa.String(), nullable=True),
        sa.Column("observed", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(), nullable=not extra_key),
        sa.Column("evaluated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("model", "check_name", "partition_hour", *extra_key),
    )


def _performance_table(name: str, *extra_key: str) -> None:
    """model_performance (latest per hour) and model_performance_history (one row per computation)."""
    op.create_table(
        name,
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("predictions", sa.BigInteger(), nullable=True),
        sa.Column("labelled", sa.BigInteger(), nullable=True),
        sa.Column("label_coverage", sa.Double(), nullable=True),
        sa.Column("label_hours", sa.BigInteger(), nullable=True),
        sa.Column("labels_loaded_through", TS, nullable=True),
        sa.Column("accuracy", sa.Double(), nullable=True),
        sa.Column("precision", sa.Double(), nullable=True),
        sa.Column("recall", sa.Double(), nullable=True),
        sa.Column("f1", sa.Double(), nullable=True),
        sa.Column("positive_rate", sa.Double(), nullable=True),
        sa.Column("roc_auc", sa.Double(), nullable=True),
        sa.Column("log_loss", sa.Double(), nullable=True),
        sa.Column("brier", sa.Double(), nullable=True),
        sa.Column("calibration_error", sa.Double(), nullable=True),
        sa.Column("mae", sa.Double(), nullable=True),
        sa.Column("rmse", sa.Double(), nullable=True),
        sa.Column("mape", sa.Double(), nullable=True),
        sa.Column("r2", sa.Double(), nullable=True),
        sa.Column("estimated_accuracy", sa.Double(), nullable=True),
        sa.Column("estimated_roc_auc", sa.Double(), nullable=True),
        sa.Column("metric", sa.String(), nullable=True),
        sa.Column("metric_value", sa.Double(), nullable=True),
        sa.Column("metric_se", sa.Double(), nullable=True),
        sa.Column("baseline_value", sa.Double(), nullable=True),
        sa.Column("baseline_hours", sa.BigInteger(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("calibration", sa.Text(), nullable=True),
        sa.Column("computed_at", TS, nullable=not extra_key),
        sa.PrimaryKeyConstraint("model", "partition_hour", *extra_key),
    )


def downgrade() -> None:
    for table in (
        "alerts",
        "check_history",
        "check_results",
        "drift_metrics",
        "drift_summary",
        "hour_facts",
        "model_performance",
        "model_performance_history",
    ):
        op.drop_table(table)
