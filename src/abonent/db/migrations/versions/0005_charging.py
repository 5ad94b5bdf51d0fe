"""charging: catalogue, subscriptions, usage records, statement orders

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-22 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_products",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_products")),
    )
    op.create_table(
        "catalog_versions",
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("loaded_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(length=100), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_catalog_versions")),
    )
    op.create_table(
        "statement_orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("period_from", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("period_to", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_statement_orders_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_statement_orders_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_orders")),
        sa.UniqueConstraint(
            "subscriber_id",
            "period_from",
            "period_to",
            name=op.f("uq_statement_orders_subscriber_id_period_from_period_to"),
        ),
    )
    op.create_table(
        "subscriptions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("slot", sa.String(length=50), nullable=False),
        sa.Column("product_code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("period_start", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("period_end", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("anchor_day", sa.Integer(), nullable=True),
        sa.Column("fee_paid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("used_onnet_s", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("used_offnet_s", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("used_sms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("used_data_kb", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tariff_changes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriptions_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "subscriber_id", "slot", name=op.f("uq_subscriptions_subscriber_id_slot")
        ),
    )
    op.create_index(
        "ix_subscriptions_state_period_end", "subscriptions", ["state", "period_end"], unique=False
    )
    op.create_table(
        "usage_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("caller", sa.String(length=20), nullable=False),
        sa.Column("callee", sa.String(length=20), nullable=False),
        sa.Column("started_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("volume_bytes", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=13), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("bundle_units", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("rated_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_usage_records_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_usage_records_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("record_id", name=op.f("uq_usage_records_record_id")),
    )
    op.create_index(
        "ix_usage_records_subscriber_id_started_at",
        "usage_records",
        ["subscriber_id", "started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_usage_records_subscriber_id_started_at", table_name="usage_records")
    op.drop_table("usage_records")
    op.drop_index("ix_subscriptions_state_period_end", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("statement_orders")
    op.drop_table("catalog_versions")
    op.drop_table("catalog_products")
