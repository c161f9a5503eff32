"""Event-time hours read from arrival folders: what each hour's load counted and skipped.

New columns of hour_facts (NULL for hours loaded before: they were never counted): late_records and
early_records (records of the hour's own arrival folder that belong to an hour whose arrival window does
not include it), bad_lines (JSON / CSV lines skipped, within `max_bad_line_share`), arrival_objects (the
objects read from the hour's arrival folders). New table late_arrivals: those records by event hour.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

TS = sa.DateTime(timezone=True)  # storage.catalog.UTCDateTime stores through this type
HOUR_FACTS_COLUMNS = ("late_records", "early_records", "bad_lines", "arrival_objects")


def upgrade() -> None:
    for name in HOUR_FACTS_COLUMNS:
        op.add_column("hour_facts", sa.Column(name, sa.BigInteger(), nullable=True))
    op.create_table(
        "late_arrivals",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("event_hour", TS, nullable=False),
        sa.Column("kind", sa.String()),
        sa.Column("rows", sa.BigInteger()),
        sa.PrimaryKeyConstraint("model", "partition_hour", "event_hour"),
    )


def downgrade() -> None:
    op.drop_table("late_arrivals")
    with op.batch_alter_table("hour_facts") as batch:  # SQLite drops a column by copying the table
        for name in HOUR_FACTS_COLUMNS:
            batch.drop_column(name)
