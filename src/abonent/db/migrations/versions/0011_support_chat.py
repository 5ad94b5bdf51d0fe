"""support chat and staff users

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 00:01:16.130380
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("read_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_support_messages_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_messages")),
    )
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_messages_subscriber_id_id", ["subscriber_id", "id"], unique=False
        )
    op.create_table(
        "staff_users",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("name", name=op.f("uq_staff_users_name")),
    )


def downgrade() -> None:
    op.drop_table("staff_users")
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_support_messages_subscriber_id_id")

    op.drop_table("support_messages")
