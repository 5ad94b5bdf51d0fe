"""Electronic receipts: a snapshot of everything printed, written once, never updated
(except the fiscal registration the cloud cash register sends back)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

receipts = Table(
    "receipts",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("number", String(30), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),  # sale / return
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=False),
    # "sale:<payment id>" or "return:<caller's key>": one receipt per event, races settled here.
    Column("idempotency_key", String(120), nullable=False, unique=True),
    Column("share_token", String(40), nullable=False, unique=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("seller_name", String(200), nullable=False),
    Column("seller_bin", String(12), nullable=False),
    Column("seller_address", String(200), nullable=False),
    Column("service", String(120), nullable=False),
    Column("msisdn_masked", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("vat", BigInteger, nullable=False),
    Column("vat_rate_percent", Integer, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("method", String(100), nullable=False),
    Column("agent", String(60), nullable=False),
    Column("agent_txn_id", String(100), nullable=False),
    Column("agent_txn_date", String(40), nullable=True),
    Column("reason", String(200), nullable=False, server_default=""),
    # Filled once by the fiscal job: pending → registered.
    Column("fiscal_status", String(12), nullable=False),
    Column("fiscal_sign", String(100), nullable=True),
    Column("fiscal_registered_at", UtcDateTime, nullable=True),
    Index("ix_receipts_payment_id", "payment_id"),
    Index("ix_receipts_fiscal_status", "fiscal_status"),
)
