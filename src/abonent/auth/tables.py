from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

one_time_codes = Table(
    "one_time_codes",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("msisdn", String(16), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("ip", String(64), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("used_at", UtcDateTime, nullable=True),
    Index("ix_one_time_codes_msisdn_purpose_id", "msisdn", "purpose", "id"),
    Index("ix_one_time_codes_ip_created_at", "ip", "created_at"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

password_changes = Table(
    "password_changes",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("via", String(20), nullable=False),  # "change" (limited) or "recovery" (never)
    Index("ix_password_changes_subscriber_id_at", "subscriber_id", "at"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    # "msisdn:+7707…" or "ip:203.0.113.5"
    Column("key", String(80), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_login_failures_key_at", "key", "at"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(300), nullable=False),
    Column("stepped_up_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_auth_sessions_subscriber_id", "subscriber_id"),
)

known_devices = Table(
    "known_devices",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("user_agent", String(300), nullable=False),
    UniqueConstraint("subscriber_id", "device_id"),
)
