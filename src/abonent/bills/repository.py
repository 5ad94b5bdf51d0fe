"""Bill storage (SQLAlchemy Core; SQLite and PostgreSQL). Bulk statements for the bill run."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql

from abonent.bills.domain import Bill, BillLine, BillStatus, parse_month
from abonent.bills.tables import bill_allocations, bill_credits, bills
from abonent.ledger.tables import ledger_transactions, postings
from abonent.subscribers.domain import PaymentType, SubscriberStatus
from abonent.subscribers.tables import subscribers

_UNPAID = (BillStatus.OPEN.value, BillStatus.OVERDUE.value)


@dataclass(frozen=True, slots=True)
class BillableAccount:
    subscriber_id: int
    account_id: int
    msisdn: str


class SqlBillRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def _among(self, column: sa.ColumnElement[int], ids: Iterable[int]) -> sa.ColumnElement[bool]:
        """``column IN ids``; on PostgreSQL one array parameter (``= ANY``) instead of thousands
        of bound values, which costs more to build and parse than the query itself."""
        values = list(ids)
        if self.connection.dialect.name == "postgresql":
            array = bindparam(None, values, type_=postgresql.ARRAY(sa.BigInteger))
            return column == sa.any_(array)
        return column.in_(values)

    # -- the bill run ----------------------------------------------------------------------
    def billable_accounts(self, *, after_id: int, limit: int) -> list[BillableAccount]:
        """Postpaid numbers that are not closed, in subscriber id order (a keyset page)."""
        rows = self.connection.execute(
            select(subscribers.c.id, subscribers.c.account_id, subscribers.c.msisdn)
            .where(
                subscribers.c.id > after_id,
                subscribers.c.payment_type == PaymentType.POSTPAID.value,
                subscribers.c.status != SubscriberStatus.CLOSED.value,
            )
            .order_by(subscribers.c.id)
            .limit(limit)
        )
        return [BillableAccount(int(r[0]), int(r[1]), r[2]) for r in rows]

    def lock_subscribers(self, subscriber_ids: Sequence[int]) -> None:
        """Take the same row locks a top-up takes (PostgreSQL; SQLite has one writer anyway)."""
        if subscriber_ids and self.connection.dialect.name == "postgresql":
            self.connection.execute(
                select(subscribers.c.id)
                .where(self._among(subscribers.c.id, sorted(subscriber_ids)))
                .order_by(subscribers.c.id)
                .with_for_update()
            ).all()

    def billed_accounts(self, account_ids: Sequence[int], month: str) -> set[int]:
        rows = self.connection.execute(
            select(bills.c.account_id).where(
                bills.c.month == month, self._among(bills.c.account_id, account_ids)
            )
        )
        return {int(r[0]) for r in rows}

    def net_by_kind(
        self, account_ids: Sequence[int], start: datetime, end: datetime
    ) -> dict[int, dict[str, int]]:
        """Net ledger movement per account and transaction kind within ``[start, end)``."""
        rows = self.connection.execute(
            select(postings.c.account_id, ledger_transactions.c.kind, func.sum(postings.c.amount))
            .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .where(
                self._among(postings.c.account_id, account_ids),
                ledger_transactions.c.created_at >= start,
                ledger_transactions.c.created_at < end,
            )
            .group_by(postings.c.account_id, ledger_transactions.c.kind)
        )
        result: dict[int, dict[str, int]] = defaultdict(dict)
        for account_id, kind, net in rows:
            result[int(account_id)][kind] = int(net)
        return result

    def credits(self, account_ids: Sequence[int]) -> dict[int, int]:
        rows = self.connection.execute(
            select(bill_credits.c.account_id, bill_credits.c.amount).where(
                self._among(bill_credits.c.account_id, account_ids)
            )
        )
        return {int(a): int(v) for a, v in rows}

    def unpaid_totals(self, account_ids: Sequence[int]) -> dict[int, int]:
        rows = self.connection.execute(
            select(bills.c.account_id, func.sum(bills.c.amount_due - bills.c.paid))
            .where(self._among(bills.c.account_id, account_ids), bills.c.status.in_(_UNPAID))
            .group_by(bills.c.account_id)
        )
        return {int(a): int(v) for a, v in rows}

    def insert_bills(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.connection.execute(bills.insert(), rows)

    def add_credits(self, deltas: dict[int, int], now: datetime) -> None:
        """Move carried credit by ``delta`` per account (creating the row on first credit)."""
        if not deltas:
            return
        known = set(self.credits(list(deltas)))
        updates = [{"aid": a, "delta": d, "now": now} for a, d in deltas.items() if a in known]
        inserts = [
            {"account_id": a, "amount": d, "updated_at": now}
            for a, d in deltas.items()
            if a not in known
        ]
        if updates:
            self.connection.execute(
                bill_credits.update()
                .where(bill_credits.c.account_id == bindparam("aid"))
                .values(
                    amount=bill_credits.c.amount + bindparam("delta"),
                    updated_at=bindparam("now"),
                ),
                updates,
            )
        if inserts:
            self.connection.execute(bill_credits.insert(), inserts)

    # -- payments --------------------------------------------------------------------------
    def unpaid_bills(self, account_id: int) -> list[Bill]:
        rows = self.connection.execute(
            select(bills)
            .where(bills.c.account_id == account_id, bills.c.status.in_(_UNPAID))
            .order_by(bills.c.month, bills.c.id)
        )
        return [_bill(r) for r in rows]

    def pay(self, bill_id: int, amount: int, settles: bool, now: datetime) -> None:
        values: dict[str, Any] = {"paid": bills.c.paid + amount}
        if settles:
            values |= {"status": BillStatus.PAID.value, "paid_at": now}
        self.connection.execute(bills.update().where(bills.c.id == bill_id).values(**values))

    def insert_allocations(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.connection.execute(bill_allocations.insert(), rows)

    def allocations_of_payment(self, payment_id: int) -> list[tuple[int | None, int]]:
        rows = self.connection.execute(
            select(bill_allocations.c.bill_id, bill_allocations.c.amount)
            .where(bill_allocations.c.payment_id == payment_id)
            .order_by(bill_allocations.c.id)
        )
        return [(None if b is None else int(b), int(a)) for b, a in rows]

    # -- overdue ---------------------------------------------------------------------------
    def mark_overdue(self, now: datetime) -> int:
        result = self.connection.execute(
            bills.update()
            .where(bills.c.status == BillStatus.OPEN.value, bills.c.due_at <= now)
            .values(status=BillStatus.OVERDUE.value)
        )
        return int(result.rowcount)

    def to_bar(self, cutoff: datetime, *, limit: int) -> list[tuple[int, int, str]]:
        """(bill id, subscriber id, msisdn) of overdue bills due at or before ``cutoff`` that
        have not barred their number yet."""
        rows = self.connection.execute(
            select(bills.c.id, bills.c.subscriber_id, bills.c.msisdn)
            .where(
                bills.c.status == BillStatus.OVERDUE.value,
                bills.c.barred_at.is_(None),
                bills.c.due_at <= cutoff,
            )
            .order_by(bills.c.subscriber_id, bills.c.id)
            .limit(limit)
        )
        return [(int(b), int(s), m) for b, s, m in rows]

    def set_barred(self, bill_ids: Iterable[int], now: datetime) -> None:
        ids = sorted(set(bill_ids))
        if ids:
            self.connection.execute(bills.update().where(bills.c.id.in_(ids)).values(barred_at=now))

    # -- reading ---------------------------------------------------------------------------
    def by_token(self, token: str) -> Bill | None:
        row = self.connection.execute(select(bills).where(bills.c.share_token == token)).first()
        return _bill(row) if row else None

    def of_account(self, account_id: int, *, limit: int = 24) -> list[Bill]:
        rows = self.connection.execute(
            select(bills)
            .where(bills.c.account_id == account_id)
            .order_by(bills.c.month.desc())
            .limit(limit)
        )
        return [_bill(r) for r in rows]

    def for_month(self, account_id: int, month: str) -> Bill | None:
        row = self.connection.execute(
            select(bills).where(bills.c.account_id == account_id, bills.c.month == month)
        ).first()
        return _bill(row) if row else None

    def count_for_month(self, month: str) -> int:
        return int(
            self.connection.execute(
                select(func.count()).select_from(bills).where(bills.c.month == month)
            ).scalar_one()
        )


def _bill(row: sa.Row[Any]) -> Bill:
    m = row._mapping
    return Bill(
        id=int(m["id"]),
        subscriber_id=int(m["subscriber_id"]),
        account_id=int(m["account_id"]),
        msisdn=m["msisdn"],
        month=parse_month(m["month"]),
        period_start=m["period_start"],
        period_end=m["period_end"],
        charges=int(m["charges"]),
        carried_in=int(m["carried_in"]),
        previous_unpaid=int(m["previous_unpaid"]),
        amount_due=int(m["amount_due"]),
        paid=int(m["paid"]),
        status=BillStatus(m["status"]),
        lines=tuple(BillLine(x["category"], int(x["amount"])) for x in m["lines"]),
        due_at=m["due_at"],
        barred_at=m["barred_at"],
        paid_at=m["paid_at"],
        share_token=m["share_token"],
        created_at=m["created_at"],
    )
