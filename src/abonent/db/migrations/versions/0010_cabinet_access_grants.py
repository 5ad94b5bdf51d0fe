"""cabinet access grants

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 23:55:58.073657
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_grants",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("grantee_subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("target_subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("right", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grantee_subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_access_grants_grantee_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["target_subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_access_grants_target_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_grants")),
    )
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_grants_grantee_target",
            ["grantee_subscriber_id", "target_subscriber_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_access_grants_target_subscriber_id", ["target_subscriber_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_access_grants_target_subscriber_id")
        batch_op.drop_index("ix_access_grants_grantee_target")

    op.drop_table("access_grants")
