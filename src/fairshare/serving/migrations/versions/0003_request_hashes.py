"""Request hashes: an idempotency key answers only the request it was first billed for.

Rows billed before this migration keep a NULL hash; reusing their idempotency keys is refused (409), since
their request can no longer be matched.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("request_hash", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("request_hash")
