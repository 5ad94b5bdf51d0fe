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

agents = Table(
    "agents",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("dialect", String(20), nullable=False),
    Column("password_hash", String(200), nullable=True),  # argon2id; None: allowlist only
    Column("allow_ips", JSON, nullable=False),  # list of CIDRs
    Column("min_sum", BigInteger, nullable=False),
    Column("max_sum", BigInteger, nullable=False),
    Column("clearing_account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

agent_payments = Table(
    "agent_payments",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("agent_id", BigInteger, ForeignKey("agents.id"), nullable=False),
    Column("txn_id", String(20), nullable=False),
    Column("txn_date", String(40), nullable=True),  # as the agent sent it
    Column("txn_day", String(10), nullable=True),  # YYYY-MM-DD of txn_date, for registries
    Column("msisdn", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=False),  # prv_txn
    Column("fingerprint", String(80), nullable=False),  # what a repeat must match
    Column("status", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # The idempotency key of an agent payment: the database settles concurrent repeats.
    UniqueConstraint("agent_id", "txn_id"),
    Index("ix_agent_payments_agent_id_txn_day", "agent_id", "txn_day"),
)
