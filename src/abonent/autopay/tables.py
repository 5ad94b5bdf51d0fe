"""Auto top-up rules and their triggers (one row per charge a rule asked for)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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

autopay_rules = Table(
    "autopay_rules",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("owner_msisdn", String(16), nullable=False),
    Column("target_msisdn", String(16), nullable=False),
    # The threshold hook looks rules up by the ledger account that moved (one indexed query).
    Column("target_account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("card_id", BigInteger, ForeignKey("cards.id"), nullable=True),
    Column("kind", String(20), nullable=False),
    Column("amount", BigInteger, nullable=True),
    Column("threshold", BigInteger, nullable=True),
    Column("period", String(10), nullable=True),
    Column("day", Integer, nullable=True),
    Column("next_run_at", UtcDateTime, nullable=True),
    Column("armed", Boolean, nullable=False, server_default="1"),
    # Crossings counted so far: the key of a threshold trigger (at most one per crossing).
    Column("crossings", Integer, nullable=False, server_default="0"),
    Column("rearm_at", UtcDateTime, nullable=True),
    Column("consecutive_declines", Integer, nullable=False, server_default="0"),
    Column("status", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_autopay_rules_target_account_id", "target_account_id"),
    Index("ix_autopay_rules_owner_msisdn", "owner_msisdn"),
    Index("ix_autopay_rules_status_next_run_at", "status", "next_run_at"),
)

autopay_triggers = Table(
    "autopay_triggers",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("rule_id", BigInteger, ForeignKey("autopay_rules.id"), nullable=False),
    # "threshold:<crossing>", "schedule:<run time>", "renewal:<period end>": once per key.
    Column("due_key", String(80), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column(
        "card_payment_id", BigInteger, ForeignKey("card_payments.id"), nullable=True, unique=True
    ),
    Column("reason", String(200), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("rule_id", "due_key"),
    Index("ix_autopay_triggers_status_id", "status", "id"),
)
