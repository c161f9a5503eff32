"""The alert outbox (messages committed before they are sent) and failed runs.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

TS = sa.DateTime(timezone=True)  # storage.catalog.UTCDateTime stores through this type


def upgrade() -> None:
    op.create_index("ix_alerts_message", "alerts", ["message_id", "sink"], unique=False)
    op.create_table(
        "alert_messages",
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("sink", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("partition_hour", TS, nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("delivery_state", sa.String(), nullable=True),
        sa.Column("attempts", sa.BigInteger(), nullable=True),
        sa.Column("next_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("log_offset", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_alert_messages_due", "alert_messages", ["delivery_state", "next_at"], unique=False)
    op.create_index("ix_alert_messages_sent", "alert_messages", ["sink", "delivered_at"], unique=False)
    op.create_index("ix_alert_messages_hour", "alert_messages", ["model", "partition_hour"], unique=False)
    op.create_table(
        "run_failures",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=True),
        sa.Column("last_hour", TS, nullable=True),
        sa.Column("open_hours", sa.Text(), nullable=True),
        sa.Column("job", sa.String(), nullable=True),
        sa.Column("step", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failed_at", TS, nullable=True),
        sa.Column("recovered_by", sa.String(), nullable=True),
        sa.Column("recovered_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("model", "run_id"),
    )
    op.create_index("ix_run_failures_open", "run_failures", ["model", "recovered_at"], unique=False)
    op.create_index("ix_run_failures_hour", "run_failures", ["model", "partition_hour"], unique=False)


def downgrade() -> None:
    op.drop_table("run_failures")
    op.drop_table("alert_messages")
    op.drop_index("ix_alerts_message", table_name="alerts")
