"""Bills, the credit carried per account, and how each payment was allocated."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
)

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

bills = Table(
    "bills",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("month", String(7), nullable=False),  # "2026-01"
    Column("period_start", UtcDateTime, nullable=False),
    Column("period_end", UtcDateTime, nullable=False),
    Column("charges", BigInteger, nullable=False),
    Column("carried_in", BigInteger, nullable=False),
    Column("previous_unpaid", BigInteger, nullable=False),
    Column("amount_due", BigInteger, nullable=False),
    Column("paid", BigInteger, nullable=False, server_default="0"),
    Column("status", String(10), nullable=False),
    Column("lines", JSON, nullable=False),  # [{"category": "usage", "amount": 150000}, ...]
    Column("due_at", UtcDateTime, nullable=False),
    Column("barred_at", UtcDateTime, nullable=True),  # when being overdue barred the number
    Column("paid_at", UtcDateTime, nullable=True),
    # Unguessable: the bill's HTML/PDF link (personal data behind it, like a receipt link).
    Column("share_token", String(40), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    # The idempotency of the bill run: one bill per account and month, settled by the database.
    UniqueConstraint("account_id", "month"),
    Index("ix_bills_status_due_at", "status", "due_at"),
    Index("ix_bills_month", "month"),
)

bill_credits = Table(
    "bill_credits",
    metadata,
    # Overpayment waiting for the next bill (never negative).
    Column("account_id", BigInteger, ForeignKey("accounts.id"), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

bill_allocations = Table(
    "bill_allocations",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    # NULL: the part of the payment that became carried credit.
    Column("bill_id", BigInteger, ForeignKey("bills.id"), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_bill_allocations_payment_id", "payment_id"),
    Index("ix_bill_allocations_bill_id", "bill_id"),
)
