"""vouchers: batches, keyed-hash codes, wrong-code guard and failure log

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-22 00:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voucher_entry_guards",
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_voucher_entry_guards")),
    )
    op.create_table(
        "voucher_redemption_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_redemption_failures")),
    )
    with op.batch_alter_table("voucher_redemption_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_voucher_redemption_failures_msisdn_at", ["msisdn", "at"], unique=False
        )

    op.create_table(
        "voucher_batches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("nominal", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("liability_account_id", sa.BigInteger(), nullable=True),
        sa.Column("key_check", sa.String(length=16), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("activated_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("blocked_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["liability_account_id"],
            ["accounts.id"],
            name=op.f("fk_voucher_batches_liability_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_batches")),
    )
    op.create_table(
        "vouchers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("redeemed_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("redeemed_msisdn", sa.String(length=16), nullable=True),
        sa.Column("redeemed_channel", sa.String(length=20), nullable=True),
        sa.Column("redeemed_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["voucher_batches.id"], name=op.f("fk_vouchers_batch_id_voucher_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("batch_id", "serial", name=op.f("uq_vouchers_batch_id_serial")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_vouchers_code_hash")),
    )
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.create_index("ix_vouchers_batch_id_state", ["batch_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_index("ix_vouchers_batch_id_state")

    op.drop_table("vouchers")
    op.drop_table("voucher_batches")
    with op.batch_alter_table("voucher_redemption_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_voucher_redemption_failures_msisdn_at")

    op.drop_table("voucher_redemption_failures")
    op.drop_table("voucher_entry_guards")
