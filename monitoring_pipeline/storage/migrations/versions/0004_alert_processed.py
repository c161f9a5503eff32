"""When the alert sensor processed each check evaluation (check_history.alert_processed_at).

Evaluations stored before this revision stay NULL: nothing recorded whether they were processed.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

TS = sa.DateTime(timezone=True)  # storage.catalog.UTCDateTime stores through this type


def upgrade() -> None:
    op.add_column("check_history", sa.Column("alert_processed_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_history") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("alert_processed_at")
