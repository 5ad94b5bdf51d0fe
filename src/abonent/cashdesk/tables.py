"""Self-service cash machines, their sessions, the notes they took, one-time login tokens."""

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

cash_machines = Table(
    "cash_machines",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    # Keyed hash (HMAC-SHA256 with the server secret) of the machine's API key.
    Column("key_hash", String(64), nullable=False),
    Column("status", String(10), nullable=False),  # active / blocked
    Column("created_at", UtcDateTime, nullable=False),
)

cash_sessions = Table(
    "cash_sessions",
    metadata,
    # Public, unguessable; the machine journals it and the payment's external id is this.
    Column("id", String(40), primary_key=True),
    Column("machine_id", BigInteger, ForeignKey("cash_machines.id"), nullable=False),
    Column("auth_method", String(10), nullable=False),  # iin / qr / card / msisdn
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("status", String(10), nullable=False),  # open / finished / cancelled
    Column("inserted", BigInteger, nullable=False, server_default="0"),
    Column("notes", Integer, nullable=False, server_default="0"),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_cash_sessions_machine_id_created_at", "machine_id", "created_at"),
)

cash_notes = Table(
    "cash_notes",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("session_id", String(40), ForeignKey("cash_sessions.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # the machine's event number within the session
    Column("denomination", BigInteger, nullable=False),  # tiyn
    Column("created_at", UtcDateTime, nullable=False),
    # Each note event counts once, however often the machine re-sends it.
    UniqueConstraint("session_id", "seq"),
)

cash_auth_tokens = Table(
    "cash_auth_tokens",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("kind", String(10), nullable=False),  # qr (one-time) / card (bank card token)
    # Keyed hash of the token: a database leak does not hand out logins.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("used_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)
