"""tags keep the order they were given: a position on each asset's link to a tag

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Links made before this revision were shown alphabetically: number them in that order, so
# that every page shows them as it did.
ALPHABETICAL = """
UPDATE asset_tags SET position = (
    SELECT count(*) FROM asset_tags AS other JOIN tags ON tags.id = other.tag_id
    WHERE other.asset_id = asset_tags.asset_id
      AND tags.name < (SELECT name FROM tags WHERE tags.id = asset_tags.tag_id)
)
"""


def upgrade() -> None:
    with op.batch_alter_table("asset_tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
    op.execute(ALPHABETICAL)


def downgrade() -> None:
    with op.batch_alter_table("asset_tags", schema=None) as batch_op:
        batch_op.drop_column("position")
