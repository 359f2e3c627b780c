"""a base model's architecture numbers, for the run form's memory estimate; the demo's filled

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The shipped demo captioner's parts as a worker counts them (app.basemodels.models holds the
# same numbers for the seed; written out here so that this migration never changes).
DEMO = {
    "quantized_params": 1474560,
    "quantized_tensors": 28,
    "kept_params": 790592,
    "vision_params": 430592,
    "projector_params": 98304,
    "embedding_params": 129984,
    "head_params": 129984,
    "lora_per_rank": 13056,
    "vision_lora_per_rank": 5376,
    "hidden_size": 192,
    "intermediate_size": 384,
    "layers": 4,
    "heads": 4,
    "vocab_size": 677,
    "image_tokens": 16,
    "vision_tokens": 64,
    "vision_hidden_size": 128,
}


def upgrade() -> None:
    with op.batch_alter_table("base_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("architecture", sa.JSON(), nullable=True))
    base_models = sa.table(
        "base_models",
        sa.column("source", sa.String),
        sa.column("revision", sa.String),
        sa.column("architecture", sa.JSON),
    )
    op.execute(
        base_models.update()
        .where(base_models.c.source == "models/demo-captioner", base_models.c.revision == "")
        .values(architecture=DEMO)
    )


def downgrade() -> None:
    with op.batch_alter_table("base_models", schema=None) as batch_op:
        batch_op.drop_column("architecture")
