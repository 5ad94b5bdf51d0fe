"""Charging tables: subscriptions (tariff and options with their bundle counters) and rated
usage records."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    # "tariff" (one per subscriber) or "option:CODE": one row per slot.
    Column("slot", String(50), nullable=False),
    Column("product_code", String(40), nullable=False),
    Column("kind", String(10), nullable=False),
    # "active": the period is paid and its bundles granted; "lapsed": the fee for the period
    # from period_start was refused (pay-as-you-go until a top-up renews it).
    Column("state", String(10), nullable=False),
    Column("period_start", UtcDateTime, nullable=False),
    # When the current period ends and the next renewal is due.
    Column("period_end", UtcDateTime, nullable=False),
    Column("anchor_day", Integer, nullable=True),
    Column("fee_paid", BigInteger, nullable=False, server_default="0"),
    Column("used_onnet_s", BigInteger, nullable=False, server_default="0"),
    Column("used_offnet_s", BigInteger, nullable=False, server_default="0"),
    Column("used_sms", BigInteger, nullable=False, server_default="0"),
    Column("used_data_kb", BigInteger, nullable=False, server_default="0"),
    Column("tariff_changes", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("subscriber_id", "slot"),
    Index("ix_subscriptions_state_period_end", "state", "period_end"),
)

usage_records = Table(
    "usage_records",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    # The network's id of the record: a repeat is a duplicate, never charged twice.
    Column("record_id", String(64), nullable=False, unique=True),
    # Who paid: the caller, or the callee of a collect call.
    Column("subscriber_id", BigInteger, ForeignKey("subscribers.id"), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("caller", String(20), nullable=False),
    Column("callee", String(20), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration_seconds", Integer, nullable=False),
    Column("volume_bytes", BigInteger, nullable=False),
    Column("direction", String(13), nullable=False),
    # Billed units (seconds, messages, kilobytes), the part taken from bundles, and the money.
    Column("units", BigInteger, nullable=False),
    Column("bundle_units", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("transaction_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=True),
    Column("rated_at", UtcDateTime, nullable=False),
    Index("ix_usage_records_subscriber_id_started_at", "subscriber_id", "started_at"),
)
