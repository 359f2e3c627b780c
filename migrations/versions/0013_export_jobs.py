"""export jobs: export zips built on a cpu worker, downloaded from the blob store when done

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('export_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('format', sa.Enum('csv', 'jsonl', 'coco', 'sharegpt', name='exportformat', native_enum=False, length=16), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('result_key', sa.String(length=300), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('expired_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', 'cancelled', name='jobstatus', native_enum=False, length=16), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sa.String(length=200), nullable=False),
    sa.Column('lease_expires_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_export_jobs_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_export_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset_versions.id'], name=op.f('fk_export_jobs_dataset_id_dataset_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_jobs'))
    )
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_export_jobs_brand_id_id', ['brand_id', 'id'], unique=False)
        batch_op.create_index('ix_export_jobs_status_lease_expires_at', ['status', 'lease_expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_export_jobs_status_lease_expires_at')
        batch_op.drop_index('ix_export_jobs_brand_id_id')

    op.drop_table('export_jobs')
