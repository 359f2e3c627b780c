"""who has seen a run's results, and ratings given after that (unblinded)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "results_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("first_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_results_views_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_results_views_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results_views")),
        sa.UniqueConstraint("run_id", "user_id", name=op.f("uq_results_views_run_id_user_id")),
    )
    with op.batch_alter_table("results_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_results_views_user_id"), ["user_id"], unique=False)
    # Ratings given before this revision: who had seen the results then is not known, so
    # they stay counted (blind, as the page promised when they were given).
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unblinded", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.alter_column("unblinded", existing_type=sa.Boolean(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_column("unblinded")
    with op.batch_alter_table("results_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_results_views_user_id"))
    op.drop_table("results_views")
