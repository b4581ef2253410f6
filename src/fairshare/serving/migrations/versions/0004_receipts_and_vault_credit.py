"""Receipts and on-chain credit: running totals billed, signed receipt batches, credit bought in the vault.

Each key keeps the running total billed to it and what the CreditVault says it deposited and refunded; each
usage row keeps its receipt (request, running total, batch and position); each receipt batch keeps its
Merkle root and the operator's signature; each settlement keeps the window it posted on chain.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("root", sa.String(66), nullable=False),
        sa.Column("signature", sa.String(132), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("billed", sa.String(78), nullable=False, server_default="0"))
        batch.add_column(sa.Column("deposited", sa.String(78), nullable=False, server_default="0"))
        batch.add_column(sa.Column("refunded", sa.String(78), nullable=False, server_default="0"))
        batch.add_column(sa.Column("refund_pending", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("total", sa.String(78)))
        batch.add_column(sa.Column("request", sa.String(66)))
        batch.add_column(sa.Column("batch_id", sa.Integer, sa.ForeignKey("receipt_batches.id", name="fk_usage_batch")))
        batch.add_column(sa.Column("position", sa.Integer))
    with op.batch_alter_table("settlements") as batch:
        batch.add_column(sa.Column("window_id", sa.Integer))
        batch.add_column(sa.Column("window_root", sa.String(66)))


def downgrade() -> None:
    with op.batch_alter_table("settlements") as batch:
        batch.drop_column("window_root")
        batch.drop_column("window_id")
    with op.batch_alter_table("usage") as batch:
        for column in ("position", "batch_id", "request", "total"):
            batch.drop_column(column)
    with op.batch_alter_table("api_keys") as batch:
        for column in ("refund_pending", "refunded", "deposited", "billed"):
            batch.drop_column(column)
    op.drop_table("receipt_batches")
