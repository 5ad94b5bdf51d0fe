"""Statement orders: a full call-detail statement is charged once per (number, period)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, UniqueConstraint

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

statement_orders = Table(
    "statement_orders",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("period_from", UtcDateTime, nullable=False),
    Column("period_to", UtcDateTime, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("transaction_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=True),
    Column("email", String(320), nullable=True),
    Column("outbox_id", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("subscriber_id", "period_from", "period_to"),
)
