"""Ledger tables: accounts (with their running balance), transactions and postings."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, UniqueConstraint

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("code", String(100), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    # Running balance, kept equal to the sum of the account's postings (checked by audit).
    Column("balance", BigInteger, nullable=False, server_default="0"),
    # Lowest balance allowed; NULL for system accounts that may go either way.
    Column("floor", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    # Who issued the idempotency key (an agent code, "voucher", "card", "cli"...).
    Column("source", String(60), nullable=False),
    Column("idempotency_key", String(160), nullable=False),
    Column("reference", String(200), nullable=False, server_default=""),
    # Hash of what the request asked for; a repeat with another fingerprint is a conflict.
    Column("fingerprint", String(64), nullable=False),
    Column("reverses_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("source", "idempotency_key"),
    # A transaction can be reversed at most once.
    UniqueConstraint("reverses_id"),
)

postings = Table(
    "postings",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("transaction_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Index("ix_postings_account_id_id", "account_id", "id"),
    Index("ix_postings_transaction_id", "transaction_id"),
)
