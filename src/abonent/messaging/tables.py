"""Free requests between subscribers: "call me", "top up my account", collect calls."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

notify_requests = Table(
    "notify_requests",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # "call_me" or "top_up_me"
    Column("sender_msisdn", String(16), nullable=False),
    Column("target_msisdn", String(16), nullable=False),
    Column("session_key", String(120), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_notify_requests_sender_kind_created_at", "sender_msisdn", "kind", "created_at"),
)

collect_calls = Table(
    "collect_calls",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("caller_msisdn", String(16), nullable=False),
    Column("callee_msisdn", String(16), nullable=False),
    # pending → accepted → completed, or pending → declined / expired
    Column("status", String(12), nullable=False),
    Column("session_key", String(120), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("duration_seconds", Integer, nullable=True),
    Column("charged", BigInteger, nullable=True),
    Index("ix_collect_calls_callee_msisdn_status", "callee_msisdn", "status"),
    Index("ix_collect_calls_caller_msisdn_status", "caller_msisdn", "status"),
)
