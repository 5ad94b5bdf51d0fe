"""agents: payment agents and their payments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dialect", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("allow_ips", sa.JSON(), nullable=False),
        sa.Column("min_sum", sa.BigInteger(), nullable=False),
        sa.Column("max_sum", sa.BigInteger(), nullable=False),
        sa.Column("clearing_account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clearing_account_id"],
            ["accounts.id"],
            name=op.f("fk_agents_clearing_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("code", name=op.f("uq_agents_code")),
    )
    op.create_table(
        "agent_payments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("txn_id", sa.String(length=20), nullable=False),
        sa.Column("txn_date", sa.String(length=40), nullable=True),
        sa.Column("txn_day", sa.String(length=10), nullable=True),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_payments_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_agent_payments_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_payments")),
        sa.UniqueConstraint("agent_id", "txn_id", name=op.f("uq_agent_payments_agent_id_txn_id")),
    )
    with op.batch_alter_table("agent_payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_payments_agent_id_txn_day", ["agent_id", "txn_day"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_payments_agent_id_txn_day")
    op.drop_table("agent_payments")
    op.drop_table("agents")
