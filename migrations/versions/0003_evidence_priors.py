"""track_embeddings: each track's evidence priors under a model (ml.sync.prior)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 22:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("track_embeddings", sa.Column("beat_prior", sa.Float(), nullable=True))
    op.add_column("track_embeddings", sa.Column("structure_prior", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("track_embeddings") as batch:
        batch.drop_column("structure_prior")
        batch.drop_column("beat_prior")
