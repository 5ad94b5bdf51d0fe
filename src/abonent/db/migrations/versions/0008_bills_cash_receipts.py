"""bills, cash machines, receipts

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-21 23:56:57.124487
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0008"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cash_machines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_machines")),
        sa.UniqueConstraint("code", name=op.f("uq_cash_machines_code")),
    )
    op.create_table(
        "bill_credits",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_bill_credits_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_bill_credits")),
    )
    op.create_table(
        "bills",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("period_start", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("period_end", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("charges", sa.BigInteger(), nullable=False),
        sa.Column("carried_in", sa.BigInteger(), nullable=False),
        sa.Column("previous_unpaid", sa.BigInteger(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("due_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("barred_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("share_token", sa.String(length=40), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_bills_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name=op.f("fk_bills_subscriber_id_subscribers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint("account_id", "month", name=op.f("uq_bills_account_id_month")),
        sa.UniqueConstraint("share_token", name=op.f("uq_bills_share_token")),
    )
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.create_index("ix_bills_month", ["month"], unique=False)
        batch_op.create_index("ix_bills_status_due_at", ["status", "due_at"], unique=False)

    op.create_table(
        "cash_auth_tokens",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("used_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_cash_auth_tokens_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_auth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_cash_auth_tokens_token_hash")),
    )
    op.create_table(
        "bill_allocations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("bill_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_bill_allocations_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bills.id"], name=op.f("fk_bill_allocations_bill_id_bills")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_bill_allocations_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_allocations")),
    )
    with op.batch_alter_table("bill_allocations", schema=None) as batch_op:
        batch_op.create_index("ix_bill_allocations_bill_id", ["bill_id"], unique=False)
        batch_op.create_index("ix_bill_allocations_payment_id", ["payment_id"], unique=False)

    op.create_table(
        "cash_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("machine_id", sa.BigInteger(), nullable=False),
        sa.Column("auth_method", sa.String(length=10), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("inserted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("notes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["cash_machines.id"],
            name=op.f("fk_cash_sessions_machine_id_cash_machines"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_cash_sessions_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_cash_sessions_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_sessions")),
    )
    with op.batch_alter_table("cash_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cash_sessions_machine_id_created_at", ["machine_id", "created_at"], unique=False
        )

    op.create_table(
        "receipts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("share_token", sa.String(length=40), nullable=False),
        sa.Column("issued_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("seller_name", sa.String(length=200), nullable=False),
        sa.Column("seller_bin", sa.String(length=12), nullable=False),
        sa.Column("seller_address", sa.String(length=200), nullable=False),
        sa.Column("service", sa.String(length=120), nullable=False),
        sa.Column("msisdn_masked", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("vat", sa.BigInteger(), nullable=False),
        sa.Column("vat_rate_percent", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=100), nullable=False),
        sa.Column("agent", sa.String(length=60), nullable=False),
        sa.Column("agent_txn_id", sa.String(length=100), nullable=False),
        sa.Column("agent_txn_date", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column("fiscal_status", sa.String(length=12), nullable=False),
        sa.Column("fiscal_sign", sa.String(length=100), nullable=True),
        sa.Column(
            "fiscal_registered_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_receipts_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_receipts_idempotency_key")),
        sa.UniqueConstraint("number", name=op.f("uq_receipts_number")),
        sa.UniqueConstraint("share_token", name=op.f("uq_receipts_share_token")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index("ix_receipts_fiscal_status", ["fiscal_status"], unique=False)
        batch_op.create_index("ix_receipts_payment_id", ["payment_id"], unique=False)

    op.create_table(
        "cash_notes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("denomination", sa.BigInteger(), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["cash_sessions.id"],
            name=op.f("fk_cash_notes_session_id_cash_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_notes")),
        sa.UniqueConstraint("session_id", "seq", name=op.f("uq_cash_notes_session_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("cash_notes")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_receipts_payment_id")
        batch_op.drop_index("ix_receipts_fiscal_status")

    op.drop_table("receipts")
    with op.batch_alter_table("cash_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_cash_sessions_machine_id_created_at")

    op.drop_table("cash_sessions")
    with op.batch_alter_table("bill_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_bill_allocations_payment_id")
        batch_op.drop_index("ix_bill_allocations_bill_id")

    op.drop_table("bill_allocations")
    op.drop_table("cash_auth_tokens")
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_index("ix_bills_status_due_at")
        batch_op.drop_index("ix_bills_month")

    op.drop_table("bills")
    op.drop_table("bill_credits")
    op.drop_table("cash_machines")
