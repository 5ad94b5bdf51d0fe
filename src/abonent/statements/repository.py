"""Reads a statement needs (usage records, the account's money movements) and its orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from abonent.charging.tables import usage_records
from abonent.ledger.tables import ledger_transactions, postings
from abonent.statements.domain import MoneyLine, UsageLine
from abonent.statements.tables import statement_orders


class SqlStatementRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def usage(self, subscriber_id: int, start: datetime, end: datetime) -> list[UsageLine]:
        rows = self.connection.execute(
            select(usage_records)
            .where(
                usage_records.c.subscriber_id == subscriber_id,
                usage_records.c.started_at >= start,
                usage_records.c.started_at < end,
            )
            .order_by(usage_records.c.started_at, usage_records.c.id)
        )
        return [
            UsageLine(
                started_at=r.started_at,
                kind=r.kind,
                caller=r.caller,
                callee=r.callee,
                direction=r.direction,
                duration_seconds=int(r.duration_seconds),
                volume_bytes=int(r.volume_bytes),
                units=int(r.units),
                bundle_units=int(r.bundle_units),
                amount=int(r.amount),
            )
            for r in rows
        ]

    def money(self, account_id: int, start: datetime, end: datetime) -> list[MoneyLine]:
        rows = self.connection.execute(
            select(
                ledger_transactions.c.created_at,
                ledger_transactions.c.kind,
                ledger_transactions.c.reference,
                sa.func.sum(postings.c.amount).label("amount"),
            )
            .join(postings, postings.c.transaction_id == ledger_transactions.c.id)
            .where(
                postings.c.account_id == account_id,
                ledger_transactions.c.created_at >= start,
                ledger_transactions.c.created_at < end,
            )
            .group_by(
                ledger_transactions.c.id,
                ledger_transactions.c.created_at,
                ledger_transactions.c.kind,
                ledger_transactions.c.reference,
            )
            .order_by(ledger_transactions.c.id)
        )
        return [MoneyLine(r.created_at, r.kind, r.reference, int(r.amount)) for r in rows]

    def order(self, subscriber_id: int, start: datetime, end: datetime) -> dict[str, Any] | None:
        row = self.connection.execute(
            select(statement_orders).where(
                statement_orders.c.subscriber_id == subscriber_id,
                statement_orders.c.period_from == start,
                statement_orders.c.period_to == end,
            )
        ).first()
        return dict(row._mapping) if row else None

    def insert_order(self, **values: Any) -> int:
        result = self.connection.execute(
            statement_orders.insert().returning(statement_orders.c.id), values
        )
        return int(result.scalar_one())
