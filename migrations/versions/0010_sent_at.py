"""when a run's or auto-tag job's message was last sent (a queued row is sent again later)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("runs", "autotag_jobs")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("sent_at", app.db.UTCDateTime(timezone=True), nullable=True)
            )
        # Rows already there were sent when they were created.
        op.execute(f"UPDATE {table} SET sent_at = created_at")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "sent_at", existing_type=app.db.UTCDateTime(timezone=True), nullable=False
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("sent_at")
