from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    # "cli:<os user>", "agent:KASPI", "subscriber:+7707…", "support:<name>", "system:renewal"
    Column("actor", String(120), nullable=False),
    Column("action", String(60), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("transaction_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=True),
    Column("details", JSON, nullable=False),
    Index("ix_audit_log_subject_id", "subject", "id"),
)
