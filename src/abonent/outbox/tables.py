from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("created_at", UtcDateTime, nullable=False),
    # "sms", "email", "event"; the delivering worker picks by topic.
    Column("topic", String(40), nullable=False),
    # Recipient (an E.164 number, an e-mail address), for lookups such as an SMS inbox.
    Column("recipient", String(200), nullable=False, server_default=""),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_recipient_id", "recipient", "id"),
)
