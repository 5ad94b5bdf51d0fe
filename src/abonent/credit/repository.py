from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select

from abonent.core.money import Tiyn
from abonent.credit.domain import CreditStatus, TrustCredit
from abonent.credit.tables import trust_credits
from abonent.payments.tables import payments


class SqlCreditRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def insert(
        self,
        *,
        subscriber_id: int,
        msisdn: str,
        amount: Tiyn,
        fee: Tiyn,
        taken_at: datetime,
        due_at: datetime,
        session_key: str,
        transaction_id: int,
    ) -> int:
        return int(
            self.connection.execute(
                trust_credits.insert().returning(trust_credits.c.id),
                {
                    "subscriber_id": subscriber_id,
                    "open_subscriber_id": subscriber_id,
                    "msisdn": msisdn,
                    "amount": amount,
                    "fee": fee,
                    "outstanding": amount + fee,
                    "status": CreditStatus.OPEN.value,
                    "taken_at": taken_at,
                    "due_at": due_at,
                    "session_key": session_key,
                    "transaction_id": transaction_id,
                },
            ).scalar_one()
        )

    def by_id(self, credit_id: int, *, lock: bool = False) -> TrustCredit | None:
        query = select(trust_credits).where(trust_credits.c.id == credit_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _credit(row) if row else None

    def by_session(self, session_key: str) -> TrustCredit | None:
        row = self.connection.execute(
            select(trust_credits).where(trust_credits.c.session_key == session_key)
        ).first()
        return _credit(row) if row else None

    def open_for(self, subscriber_id: int, *, lock: bool = False) -> TrustCredit | None:
        query = select(trust_credits).where(trust_credits.c.open_subscriber_id == subscriber_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _credit(row) if row else None

    def set_outstanding(
        self, credit_id: int, outstanding: Tiyn, status: CreditStatus, now: datetime
    ) -> None:
        closed = status is CreditStatus.REPAID
        values: dict[str, object] = {"outstanding": outstanding, "status": status.value}
        if closed:
            values |= {"open_subscriber_id": None, "closed_at": now}
        self.connection.execute(
            trust_credits.update().where(trust_credits.c.id == credit_id).values(**values)
        )

    def due_ids(self, now: datetime, limit: int) -> list[int]:
        rows = self.connection.execute(
            select(trust_credits.c.id)
            .where(trust_credits.c.status == CreditStatus.OPEN.value, trust_credits.c.due_at <= now)
            .order_by(trust_credits.c.due_at, trust_credits.c.id)
            .limit(limit)
        )
        return [int(r) for r in rows.scalars()]

    def real_topups_since(
        self, subscriber_id: int, since: datetime, excluded_channels: Sequence[str]
    ) -> tuple[int, Tiyn]:
        row = self.connection.execute(
            select(func.count(), func.coalesce(func.sum(payments.c.amount), 0)).where(
                payments.c.subscriber_id == subscriber_id,
                payments.c.created_at >= since,
                payments.c.status == "credited",
                payments.c.channel.not_in(list(excluded_channels)),
            )
        ).one()
        return int(row[0]), int(row[1])

    def of_subscriber(self, subscriber_id: int, limit: int = 20) -> list[TrustCredit]:
        rows = self.connection.execute(
            select(trust_credits)
            .where(trust_credits.c.subscriber_id == subscriber_id)
            .order_by(trust_credits.c.id.desc())
            .limit(limit)
        )
        return [_credit(r) for r in rows]


def _credit(row: sa.Row[tuple[object, ...]]) -> TrustCredit:
    m = row._mapping
    return TrustCredit(
        id=int(m["id"]),
        subscriber_id=int(m["subscriber_id"]),
        msisdn=m["msisdn"],
        amount=int(m["amount"]),
        fee=int(m["fee"]),
        outstanding=int(m["outstanding"]),
        status=CreditStatus(m["status"]),
        taken_at=m["taken_at"],
        due_at=m["due_at"],
        closed_at=m["closed_at"],
        session_key=m["session_key"],
    )
