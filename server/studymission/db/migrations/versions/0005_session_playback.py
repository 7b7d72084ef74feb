"""site-visit playback clock

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import studymission.db.tables

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_playback",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("asset", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("live_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("position", sa.Float(), nullable=False),
        sa.Column("at", studymission.db.tables.UTCDateTime(), nullable=False),
        sa.Column("changed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("session_playback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_playback_event_id"), ["event_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("session_playback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_playback_event_id"))
    op.drop_table("session_playback")
