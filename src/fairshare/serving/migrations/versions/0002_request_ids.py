"""Idempotency keys: a retried request is answered again but billed once.

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
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("request_id", sa.String(128)))
        batch.create_unique_constraint("uq_usage_key_request", ["key_id", "request_id"])


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.drop_constraint("uq_usage_key_request", type_="unique")
        batch.drop_column("request_id")
