"""Trust credits. ``open_subscriber_id`` is set while a credit is owed and NULL once repaid:
its UNIQUE index makes "one open credit per subscriber" a database fact, not a check."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

trust_credits = Table(
    "trust_credits",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("open_subscriber_id", BigInteger, nullable=True, unique=True),
    Column("msisdn", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("outstanding", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    # The idempotency key of the request that took it (the USSD session).
    Column("session_key", String(120), nullable=False, unique=True),
    Column("transaction_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=False),
    Index("ix_trust_credits_status_due_at", "status", "due_at"),
    Index("ix_trust_credits_subscriber_id", "subscriber_id"),
)
