"""The labels' lookups: prediction id fingerprints per hour, label facts per arrival hour, label links.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

TS = sa.DateTime(timezone=True)  # storage.catalog.UTCDateTime stores through this type


def upgrade() -> None:
    op.create_table(
        "prediction_ids",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("ids", sa.BigInteger(), nullable=True),
        sa.Column("fingerprints", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("model", "partition_hour"),
    )
    op.create_table(
        "label_facts",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("matched", sa.BigInteger(), nullable=True),
        sa.Column("unknown_ids", sa.BigInteger(), nullable=True),
        sa.Column("objects", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("loaded_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("model", "partition_hour"),
    )
    op.create_table(
        "label_links",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("partition_hour", TS, nullable=False),
        sa.Column("arrival_hour", TS, nullable=False),
        sa.Column("labels", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("model", "partition_hour", "arrival_hour"),
    )
    op.create_index("ix_label_links_arrival", "label_links", ["model", "arrival_hour"], unique=False)


def downgrade() -> None:
    for table in ("prediction_ids", "label_facts", "label_links"):
        op.drop_table(table)
