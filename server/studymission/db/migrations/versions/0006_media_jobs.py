"""media jobs: recordings being packaged for the site visit

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import studymission.db.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("problems", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", studymission.db.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", studymission.db.tables.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("media_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_job_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_job_event_id"))
    op.drop_table("media_job")
