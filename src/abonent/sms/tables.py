"""Parts of outbox SMS handed to the gateway: one row per part, so a retry never resends one."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table, UniqueConstraint

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

sms_parts = Table(
    "sms_parts",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger, ForeignKey("outbox.id"), nullable=False),
    Column("part", Integer, nullable=False),
    Column("gateway_id", String(100), nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
    UniqueConstraint("outbox_id", "part"),
)
