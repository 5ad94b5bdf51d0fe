"""Read models of the cabinet: history lines and spending by month, straight from the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select

from abonent.cabinet.tables import support_messages
from abonent.ledger.tables import ledger_transactions, postings
from abonent.payments.tables import payments


@dataclass(frozen=True, slots=True)
class HistoryLine:
    posting_id: int
    transaction_id: int
    at: datetime
    kind: str
    reference: str
    amount: int  # signed: + money in, - money out
    receipt_number: str | None


@dataclass(frozen=True, slots=True)
class SupportMessage:
    id: int
    subscriber_id: int
    author: str
    text: str
    created_at: datetime


class SqlCabinetRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def history(
        self,
        account_id: int,
        *,
        limit: int,
        before_posting_id: int | None = None,
        direction: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[HistoryLine]:
        query = (
            select(
                postings.c.id,
                ledger_transactions.c.id.label("tid"),
                ledger_transactions.c.created_at,
                ledger_transactions.c.kind,
                ledger_transactions.c.reference,
                postings.c.amount,
                payments.c.receipt_number,
            )
            .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .outerjoin(payments, payments.c.transaction_id == ledger_transactions.c.id)
            .where(postings.c.account_id == account_id)
            .order_by(postings.c.id.desc())
            .limit(limit)
        )
        if before_posting_id is not None:
            query = query.where(postings.c.id < before_posting_id)
        if direction == "in":
            query = query.where(postings.c.amount > 0)
        elif direction == "out":
            query = query.where(postings.c.amount < 0)
        if since is not None:
            query = query.where(ledger_transactions.c.created_at >= since)
        if until is not None:
            query = query.where(ledger_transactions.c.created_at < until)
        return [
            HistoryLine(
                posting_id=int(r.id),
                transaction_id=int(r.tid),
                at=r.created_at,
                kind=r.kind,
                reference=r.reference,
                amount=int(r.amount),
                receipt_number=r.receipt_number,
            )
            for r in self.connection.execute(query)
        ]

    def spending_since(self, account_id: int, since: datetime) -> list[tuple[datetime, str, int]]:
        """(when, kind, amount spent) for every debit of the account since ``since``."""
        rows = self.connection.execute(
            select(ledger_transactions.c.created_at, ledger_transactions.c.kind, postings.c.amount)
            .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .where(
                postings.c.account_id == account_id,
                postings.c.amount < 0,
                ledger_transactions.c.created_at >= since,
            )
        )
        return [(r.created_at, r.kind, -int(r.amount)) for r in rows]

    # -- support chat ---------------------------------------------------------------------
    def add_message(self, subscriber_id: int, author: str, text: str, now: datetime) -> int:
        return int(
            self.connection.execute(
                support_messages.insert().returning(support_messages.c.id),
                {"subscriber_id": subscriber_id, "author": author, "text": text, "created_at": now},
            ).scalar_one()
        )

    def messages(self, subscriber_id: int, limit: int = 100) -> list[SupportMessage]:
        rows = self.connection.execute(
            select(support_messages)
            .where(support_messages.c.subscriber_id == subscriber_id)
            .order_by(support_messages.c.id.desc())
            .limit(limit)
        )
        return list(reversed([_message(r) for r in rows]))

    def open_threads(self, limit: int = 50) -> list[tuple[int, SupportMessage]]:
        """Subscribers whose last message is theirs (waiting for support), oldest first."""
        last_ids = (
            select(func.max(support_messages.c.id).label("last_id"))
            .group_by(support_messages.c.subscriber_id)
            .subquery()
        )
        rows = self.connection.execute(
            select(support_messages)
            .join(last_ids, last_ids.c.last_id == support_messages.c.id)
            .where(support_messages.c.author == "subscriber")
            .order_by(support_messages.c.id)
            .limit(limit)
        )
        return [(int(r.subscriber_id), _message(r)) for r in rows]


def _message(row: sa.Row[tuple[object, ...]]) -> SupportMessage:
    m = row._mapping
    return SupportMessage(
        id=int(m["id"]),
        subscriber_id=int(m["subscriber_id"]),
        author=m["author"],
        text=m["text"],
        created_at=m["created_at"],
    )
