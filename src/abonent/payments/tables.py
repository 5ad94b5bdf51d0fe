from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, UniqueConstraint

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

payments = Table(
    "payments",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("receipt_number", String(20), nullable=False, unique=True),
    Column("source", String(60), nullable=False),
    Column("external_id", String(100), nullable=False),
    Column("external_date", String(40), nullable=True),
    Column("fingerprint", String(80), nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("method", String(100), nullable=False, server_default=""),
    Column("transaction_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # The idempotency key of every external payment: the database settles races.
    UniqueConstraint("source", "external_id"),
    Index("ix_payments_subscriber_id_id", "subscriber_id", "id"),
)
