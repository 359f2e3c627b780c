"""the instruction a run trains and is evaluated with, fixed when it is queued

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

runs = sa.table(
    "runs",
    sa.column("id", sa.Integer),
    sa.column("settings", sa.JSON),
    sa.column("instruction", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instruction", sa.Text(), nullable=True))
    # Runs queued before this revision: their settings' instruction (the style guide's terms,
    # if they were asked for, were those of the guide at training time and are not known).
    connection = op.get_bind()
    for run_id, settings in connection.execute(sa.select(runs.c.id, runs.c.settings)):
        instruction = (settings or {}).get("instruction") or "Describe this product."
        connection.execute(
            runs.update().where(runs.c.id == run_id).values(instruction=instruction)
        )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.alter_column("instruction", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("instruction")
