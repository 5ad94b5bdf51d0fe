from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from abonent.outbox.tables import outbox


class SqlOutbox:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def enqueue(self, *, topic: str, recipient: str, payload: dict[str, Any], now: datetime) -> int:
        result = self.connection.execute(
            outbox.insert().returning(outbox.c.id),
            {
                "created_at": now,
                "topic": topic,
                "recipient": recipient,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            },
        )
        return int(result.scalar_one())

    def messages(
        self, *, topic: str | None = None, recipient: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if topic is not None:
            query = query.where(outbox.c.topic == topic)
        if recipient is not None:
            query = query.where(outbox.c.recipient == recipient)
        return [dict(row._mapping) for row in self.connection.execute(query)]


def enqueue_sms(outbox_repo: SqlOutbox, *, to: str, text: str, sender: str, now: datetime) -> int:
    """The one way features queue an SMS: payload ``{"to", "sender", "text"}``, topic ``sms``."""
    return outbox_repo.enqueue(
        topic="sms", recipient=to, payload={"to": to, "sender": sender, "text": text}, now=now
    )
