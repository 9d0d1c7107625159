"""messages: AIGC metadata of AI-generated copy

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: hand-written copy, channels configured without metadata and rows planned before this
    # revision carry none. SQLite adds the column in place (no table copy), so upgrading is quick.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aigc_metadata", sa.Text(), nullable=True))
