from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from abonent.audit.tables import audit_log


class SqlAuditLog:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def record(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
        transaction_id: int | None = None,
    ) -> None:
        self.connection.execute(
            audit_log.insert(),
            {
                "at": at,
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": details or {},
                "transaction_id": transaction_id,
            },
        )

    def for_subject(self, subject: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            select(audit_log)
            .where(audit_log.c.subject == subject)
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        return [dict(row._mapping) for row in rows]
