"""Drift per segment, multivariate (PCA) drift, and multiclass performance.

New tables segment_drift_metrics, segment_drift_summary and multivariate_drift; new columns of
model_performance and model_performance_history (NULL for rows stored before: binary classifiers and
regressors never fill them).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

TS = sa.DateTime(timezone=True)  # storage.catalog.UTCDateTime stores through this type
PERFORMANCE_TABLES = ("model_performance", "model_performance_history")
MULTICLASS_COLUMNS = (
    ("macro_precision", sa.Double()),
    ("macro_recall", sa.Double()),
    ("macro_f1", sa.Double()),
    ("weighted_precision", sa.Double()),
    ("weighted_recall", sa.Double()),
    ("weighted_f1", sa.Double()),
    ("estimated_macro_f1", sa.Double()),
    ("per_class", sa.Text()),
    ("confusion", sa.Text()),
)


def _c(name: str, kind: sa.types.TypeEngine, nullable: bool = True) -> sa.Column:
    return sa.Column(name, kind, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "segment_drift_metrics",
        _c("model", sa.String(), False),
        _c("partition_hour", TS, False),
        _c("segment", sa.String(), False),
        _c("feature", sa.String(), False),
        _c("segment_column", sa.String()),
        _c("segment_value", sa.String()),
        _c("role", sa.String()),
        _c("kind", sa.String()),
        _c("test", sa.String()),
        _c("score_kind", sa.String()),
        _c("score", sa.Double()),
        _c("threshold", sa.Double()),
        _c("p_value", sa.Double()),
        _c("q_value", sa.Double()),
        _c("alpha", sa.Double()),
        _c("judged", sa.Boolean()),
        _c("drifted", sa.Boolean()),
        _c("status", sa.String()),
        _c("reference_rows", sa.BigInteger()),
        _c("current_rows", sa.BigInteger()),
        _c("reference_window", sa.Text()),
        _c("details", sa.Text()),
        _c("computed_at", TS),
        sa.PrimaryKeyConstraint("model", "partition_hour", "segment", "feature"),
    )
    op.create_table(
        "segment_drift_summary",
        _c("model", sa.String(), False),
        _c("partition_hour", TS, False),
        _c("segment", sa.String(), False),
        _c("segment_column", sa.String()),
        _c("segment_value", sa.String()),
        _c("rows", sa.BigInteger()),
        _c("reference_rows", sa.BigInteger()),
        _c("judged", sa.Boolean()),
        _c("features", sa.BigInteger()),
        _c("evaluated", sa.BigInteger()),
        _c("drifted", sa.BigInteger()),
        _c("drift_share", sa.Double()),
        _c("min_q_value", sa.Double()),
        _c("drifted_features", sa.Text()),
        _c("note", sa.Text()),
        _c("reference_window", sa.Text()),
        _c("computed_at", TS),
        sa.PrimaryKeyConstraint("model", "partition_hour", "segment"),
    )
    op.create_index("ix_segment_drift_summary_hour", "segment_drift_summary", ["partition_hour"])
    op.create_table(
        "multivariate_drift",
        _c("model", sa.String(), False),
        _c("partition_hour", TS, False),
        _c("rows", sa.BigInteger()),
        _c("reconstruction_error", sa.Double()),
        _c("expected_error", sa.Double()),
        _c("lower_threshold", sa.Double()),
        _c("upper_threshold", sa.Double()),
        _c("components", sa.BigInteger()),
        _c("explained_variance", sa.Double()),
        _c("reference_hours", sa.BigInteger()),
        _c("reference_rows", sa.BigInteger()),
        _c("drifted", sa.Boolean()),
        _c("status", sa.String()),
        _c("reference_window", sa.Text()),
        _c("details", sa.Text()),
        _c("computed_at", TS),
        sa.PrimaryKeyConstraint("model", "partition_hour"),
    )
    op.create_index("ix_multivariate_drift_hour", "multivariate_drift", ["partition_hour"])
    for table in PERFORMANCE_TABLES:
        for name, kind in MULTICLASS_COLUMNS:
            op.add_column(table, _c(name, kind))


def downgrade() -> None:
    for table in PERFORMANCE_TABLES:
        with op.batch_alter_table(table) as batch:  # SQLite drops a column by copying the table
            for name, _ in MULTICLASS_COLUMNS:
                batch.drop_column(name)
    for table in ("multivariate_drift", "segment_drift_summary", "segment_drift_metrics"):
        op.drop_table(table)
