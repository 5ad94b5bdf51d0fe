"""cards and auto top-up: linked cards, card payments, sandbox acquirer, autopay rules

Revision ID: 0007
Revises: 0002
Create Date: 2026-11-22 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0007"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cards",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("owner_msisdn", sa.String(length=16), nullable=False),
        sa.Column("acquirer", sa.String(length=30), nullable=False),
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("brand", sa.String(length=20), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint(
            "owner_msisdn", "acquirer", "token", name=op.f("uq_cards_owner_msisdn_acquirer_token")
        ),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index("ix_cards_owner_msisdn_id", ["owner_msisdn", "id"], unique=False)

    op.create_table(
        "sandbox_acquirer_cards",
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("brand", sa.String(length=20), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(length=30), nullable=False),
        sa.Column("three_ds_done", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_sandbox_acquirer_cards")),
    )
    op.create_table(
        "sandbox_acquirer_operations",
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("txn_id", sa.String(length=40), nullable=False),
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operation_id", name=op.f("pk_sandbox_acquirer_operations")),
        sa.UniqueConstraint("txn_id", name=op.f("uq_sandbox_acquirer_operations_txn_id")),
    )
    op.create_table(
        "sandbox_acquirer_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("return_url", sa.String(length=500), nullable=False),
        sa.Column("token", sa.String(length=200), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_sandbox_acquirer_sessions")),
    )
    op.create_table(
        "autopay_rules",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("owner_msisdn", sa.String(length=16), nullable=False),
        sa.Column("target_msisdn", sa.String(length=16), nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), nullable=False),
        sa.Column("card_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("threshold", sa.BigInteger(), nullable=True),
        sa.Column("period", sa.String(length=10), nullable=True),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("next_run_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("armed", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("crossings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rearm_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_declines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_autopay_rules_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["target_account_id"],
            ["accounts.id"],
            name=op.f("fk_autopay_rules_target_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autopay_rules")),
    )
    with op.batch_alter_table("autopay_rules", schema=None) as batch_op:
        batch_op.create_index("ix_autopay_rules_owner_msisdn", ["owner_msisdn"], unique=False)
        batch_op.create_index(
            "ix_autopay_rules_status_next_run_at", ["status", "next_run_at"], unique=False
        )
        batch_op.create_index(
            "ix_autopay_rules_target_account_id", ["target_account_id"], unique=False
        )

    op.create_table(
        "card_link_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("owner_msisdn", sa.String(length=16), nullable=False),
        sa.Column("acquirer", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("card_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_link_sessions_card_id_cards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_link_sessions")),
        sa.UniqueConstraint("session_id", name=op.f("uq_card_link_sessions_session_id")),
    )
    op.create_table(
        "card_payments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("card_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_msisdn", sa.String(length=16), nullable=False),
        sa.Column("target_msisdn", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("initiator", sa.String(length=20), nullable=False),
        sa.Column("acquirer", sa.String(length=30), nullable=False),
        sa.Column("acquirer_txn_id", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column("acs_url", sa.String(length=500), nullable=True),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("checks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_check_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_payments_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_card_payments_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_payments")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_card_payments_idempotency_key")),
        sa.UniqueConstraint("operation_id", name=op.f("uq_card_payments_operation_id")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_card_payments_payment_id")),
    )
    with op.batch_alter_table("card_payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_card_payments_owner_msisdn_created_at", ["owner_msisdn", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_card_payments_status_next_check_at", ["status", "next_check_at"], unique=False
        )

    op.create_table(
        "autopay_triggers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("due_key", sa.String(length=80), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("card_payment_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_payment_id"],
            ["card_payments.id"],
            name=op.f("fk_autopay_triggers_card_payment_id_card_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["autopay_rules.id"],
            name=op.f("fk_autopay_triggers_rule_id_autopay_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autopay_triggers")),
        sa.UniqueConstraint("card_payment_id", name=op.f("uq_autopay_triggers_card_payment_id")),
        sa.UniqueConstraint("rule_id", "due_key", name=op.f("uq_autopay_triggers_rule_id_due_key")),
    )
    with op.batch_alter_table("autopay_triggers", schema=None) as batch_op:
        batch_op.create_index("ix_autopay_triggers_status_id", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("autopay_triggers", schema=None) as batch_op:
        batch_op.drop_index("ix_autopay_triggers_status_id")

    op.drop_table("autopay_triggers")
    with op.batch_alter_table("card_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_card_payments_status_next_check_at")
        batch_op.drop_index("ix_card_payments_owner_msisdn_created_at")

    op.drop_table("card_payments")
    op.drop_table("card_link_sessions")
    with op.batch_alter_table("autopay_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_autopay_rules_target_account_id")
        batch_op.drop_index("ix_autopay_rules_status_next_run_at")
        batch_op.drop_index("ix_autopay_rules_owner_msisdn")

    op.drop_table("autopay_rules")
    op.drop_table("sandbox_acquirer_sessions")
    op.drop_table("sandbox_acquirer_operations")
    op.drop_table("sandbox_acquirer_cards")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index("ix_cards_owner_msisdn_id")

    op.drop_table("cards")
