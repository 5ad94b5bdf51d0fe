from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, SmallInteger, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

access_grants = Table(
    "access_grants",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("grantee_subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("target_subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("right", SmallInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_access_grants_grantee_target", "grantee_subscriber_id", "target_subscriber_id"),
    Index("ix_access_grants_target_subscriber_id", "target_subscriber_id"),
)

support_messages = Table(
    "support_messages",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    # "subscriber" or "support:<agent name>"
    Column("author", String(80), nullable=False),
    Column("text", String(2000), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    Index("ix_support_messages_subscriber_id_id", "subscriber_id", "id"),
)

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("name", String(60), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
