"""Balance transfers between subscribers; ``session_key`` makes each request happen once."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

balance_transfers = Table(
    "balance_transfers",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("session_key", String(120), nullable=False, unique=True),
    Column("sender_msisdn", String(16), nullable=False),
    Column("recipient_msisdn", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("transaction_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=False),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=False),
    Column("sender_balance_after", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_balance_transfers_sender_msisdn_created_at", "sender_msisdn", "created_at"),
)
