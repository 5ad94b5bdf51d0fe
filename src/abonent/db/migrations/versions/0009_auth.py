"""auth

Revision ID: 0009
Revises: 0002
Create Date: 2026-11-21 23:55:30.494122
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import abonent.db.types

revision = "0009"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_key_at", ["key", "at"], unique=False)

    op.create_table(
        "one_time_codes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("used_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_codes")),
    )
    with op.batch_alter_table("one_time_codes", schema=None) as batch_op:
        batch_op.create_index("ix_one_time_codes_ip_created_at", ["ip", "created_at"], unique=False)
        batch_op.create_index(
            "ix_one_time_codes_msisdn_purpose_id", ["msisdn", "purpose", "id"], unique=False
        )

    op.create_table(
        "auth_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("stepped_up_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", abonent.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_auth_sessions_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_auth_sessions")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_auth_sessions_subscriber_id", ["subscriber_id"], unique=False)

    op.create_table(
        "credentials",
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("changed_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_credentials_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("subscriber_id", name=op.f("pk_credentials")),
    )
    op.create_table(
        "known_devices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_known_devices_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_devices")),
        sa.UniqueConstraint(
            "subscriber_id", "device_id", name=op.f("uq_known_devices_subscriber_id_device_id")
        ),
    )
    op.create_table(
        "password_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("at", abonent.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_password_changes_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_changes")),
    )
    with op.batch_alter_table("password_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_password_changes_subscriber_id_at", ["subscriber_id", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("password_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_password_changes_subscriber_id_at")

    op.drop_table("password_changes")
    op.drop_table("known_devices")
    op.drop_table("credentials")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_sessions_subscriber_id")

    op.drop_table("auth_sessions")
    with op.batch_alter_table("one_time_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_one_time_codes_msisdn_purpose_id")
        batch_op.drop_index("ix_one_time_codes_ip_created_at")

    op.drop_table("one_time_codes")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_key_at")

    op.drop_table("login_failures")
