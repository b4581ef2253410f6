"""Usage store: API keys, paid calls, settlements.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AMOUNT = sa.String(78)  # exact decimal strings (see store.Amount)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_id", sa.String(16), nullable=False, unique=True, index=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("credit", AMOUNT, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "settlements",
        sa.Column("id", sa.String(66), primary_key=True),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_id", sa.String(16), sa.ForeignKey("api_keys.key_id"), nullable=False, index=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("model_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("settlement_id", sa.String(66), sa.ForeignKey("settlements.id"), index=True),
    )


def downgrade() -> None:
    op.drop_table("usage")
    op.drop_table("settlements")
    op.drop_table("api_keys")
