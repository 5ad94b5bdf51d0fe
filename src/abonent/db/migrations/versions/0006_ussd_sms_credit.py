"""ussd, sms, trust credit, transfers, free requests

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-22 00:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collect_calls",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("caller_msisdn", sa.String(length=16), nullable=False),
        sa.Column("callee_msisdn", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("session_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("charged", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collect_calls")),
        sa.UniqueConstraint("session_key", name=op.f("uq_collect_calls_session_key")),
    )
    with op.batch_alter_table("collect_calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collect_calls_callee_msisdn_status", ["callee_msisdn", "status"], unique=False
        )
        batch_op.create_index(
            "ix_collect_calls_caller_msisdn_status", ["caller_msisdn", "status"], unique=False
        )

    op.create_table(
        "notify_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sender_msisdn", sa.String(length=16), nullable=False),
        sa.Column("target_msisdn", sa.String(length=16), nullable=False),
        sa.Column("session_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_requests")),
        sa.UniqueConstraint("session_key", name=op.f("uq_notify_requests_session_key")),
    )
    with op.batch_alter_table("notify_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notify_requests_sender_kind_created_at",
            ["sender_msisdn", "kind", "created_at"],
            unique=False,
        )

    op.create_table(
        "sms_parts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.String(length=100), nullable=False),
        sa.Column("sent_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_sms_parts_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_parts")),
        sa.UniqueConstraint("outbox_id", "part", name=op.f("uq_sms_parts_outbox_id_part")),
    )
    op.create_table(
        "trust_credits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("open_subscriber_id", sa.BigInteger(), nullable=True),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("outstanding", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("taken_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("session_key", sa.String(length=120), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_trust_credits_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_trust_credits_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_credits")),
        sa.UniqueConstraint("open_subscriber_id", name=op.f("uq_trust_credits_open_subscriber_id")),
        sa.UniqueConstraint("session_key", name=op.f("uq_trust_credits_session_key")),
    )
    with op.batch_alter_table("trust_credits", schema=None) as batch_op:
        batch_op.create_index("ix_trust_credits_status_due_at", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_trust_credits_subscriber_id", ["subscriber_id"], unique=False)

    op.create_table(
        "balance_transfers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_key", sa.String(length=120), nullable=False),
        sa.Column("sender_msisdn", sa.String(length=16), nullable=False),
        sa.Column("recipient_msisdn", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_balance_after", sa.BigInteger(), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_balance_transfers_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_balance_transfers_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_transfers")),
        sa.UniqueConstraint("session_key", name=op.f("uq_balance_transfers_session_key")),
    )
    with op.batch_alter_table("balance_transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_balance_transfers_sender_msisdn_created_at",
            ["sender_msisdn", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("balance_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_balance_transfers_sender_msisdn_created_at")

    op.drop_table("balance_transfers")
    with op.batch_alter_table("trust_credits", schema=None) as batch_op:
        batch_op.drop_index("ix_trust_credits_subscriber_id")
        batch_op.drop_index("ix_trust_credits_status_due_at")

    op.drop_table("trust_credits")
    op.drop_table("sms_parts")
    with op.batch_alter_table("notify_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_notify_requests_sender_kind_created_at")

    op.drop_table("notify_requests")
    with op.batch_alter_table("collect_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_collect_calls_caller_msisdn_status")
        batch_op.drop_index("ix_collect_calls_callee_msisdn_status")

    op.drop_table("collect_calls")
