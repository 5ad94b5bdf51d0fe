"""foundation: ledger, subscribers, audit, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-21 23:48:01.727175
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Data frozen as of this revision (the code's defaults may move on).
BRANDS = [
    ("tele2", "Tele2", True),
    ("altel", "Altel", True),
    ("kcell", "Kcell", False),
    ("activ", "activ", False),
    ("beeline", "Beeline", False),
]
PREFIXES = {
    "700": "altel",
    "708": "altel",
    "707": "tele2",
    "747": "tele2",
    "701": "kcell",
    "702": "kcell",
    "775": "activ",
    "778": "activ",
    "705": "beeline",
    "706": "beeline",
    "771": "beeline",
    "776": "beeline",
    "777": "beeline",
}


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("floor", sa.BigInteger(), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_accounts_code")),
    )
    op.create_table(
        "brands",
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("home", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_brands")),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("reference", sa.String(length=200), server_default="", nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("reverses_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_transactions_reverses_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transactions_reverses_id")),
        sa.UniqueConstraint(
            "source", "idempotency_key", name=op.f("uq_ledger_transactions_source_idempotency_key")
        ),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=200), server_default="", nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_recipient_id", ["recipient", "id"], unique=False)
        batch_op.create_index(
            "ix_outbox_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_audit_log_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_subject_id", ["subject", "id"], unique=False)

    op.create_table(
        "number_prefixes",
        sa.Column("prefix", sa.String(length=3), nullable=False),
        sa.Column("brand_code", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_code"], ["brands.code"], name=op.f("fk_number_prefixes_brand_code_brands")
        ),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_number_prefixes")),
    )
    op.create_table(
        "postings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_postings_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index("ix_postings_account_id_id", ["account_id", "id"], unique=False)
        batch_op.create_index("ix_postings_transaction_id", ["transaction_id"], unique=False)

    op.create_table(
        "subscribers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("payment_type", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("brand_code", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_subscribers_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["brand_code"], ["brands.code"], name=op.f("fk_subscribers_brand_code_brands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("account_id", name=op.f("uq_subscribers_account_id")),
        sa.UniqueConstraint("msisdn", name=op.f("uq_subscribers_msisdn")),
    )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.create_index("ix_subscribers_iin", ["iin"], unique=False)

    _seed_brands()


def _seed_brands() -> None:
    """Default brands and prefixes (editable later with `abonent brand ...`)."""
    brands = sa.table(
        "brands",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("home", sa.Boolean),
    )
    prefixes = sa.table(
        "number_prefixes", sa.column("prefix", sa.String), sa.column("brand_code", sa.String)
    )
    op.bulk_insert(brands, [{"code": c, "name": n, "home": h} for c, n, h in BRANDS])
    op.bulk_insert(prefixes, [{"prefix": p, "brand_code": b} for p, b in PREFIXES.items()])


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_iin")

    op.drop_table("subscribers")
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index("ix_postings_transaction_id")
        batch_op.drop_index("ix_postings_account_id_id")

    op.drop_table("postings")
    op.drop_table("number_prefixes")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject_id")

    op.drop_table("audit_log")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_next_attempt_at")
        batch_op.drop_index("ix_outbox_recipient_id")

    op.drop_table("outbox")
    op.drop_table("ledger_transactions")
    op.drop_table("brands")
    op.drop_table("accounts")
