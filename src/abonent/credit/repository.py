from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select

from abonent.core.money import Tiyn
from abonent.credit.domain import CreditStatus, TrustCredit
from abonent.credit.tables import trust_credits
from abonent.db.id_lists import IdListQuery
from abonent.ledger.tables import ledger_transactions, postings
from abonent.payments.tables import payments

# Reads of every trust-credit offer and transfer quote, built once (see subscribers.repository).
_BY_SESSION = select(trust_credits).where(trust_credits.c.session_key == sa.bindparam("key"))
_OPEN_FOR = select(trust_credits).where(
    trust_credits.c.open_subscriber_id == sa.bindparam("subscriber_id")
)
_OPEN_FOR_LOCKED = _OPEN_FOR.with_for_update()
_REAL_TOPUPS = select(func.count(), func.coalesce(func.sum(payments.c.amount), 0)).where(
    payments.c.subscriber_id == sa.bindparam("subscriber_id"),
    payments.c.created_at >= sa.bindparam("since"),
    payments.c.status == "credited",
    payments.c.channel.not_in(sa.bindparam("excluded", expanding=True)),
)

# Asked for every group of top-ups: fixed text, the ids as one parameter.
_OWING_AMONG = IdListQuery.of(
    f"SELECT open_subscriber_id FROM {trust_credits.name} WHERE {{in_list}}",  # noqa: S608
    trust_credits.c.open_subscriber_id,
    lock=True,
)


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
        row = self.connection.execute(_BY_SESSION, {"key": session_key}).first()
        return _credit(row) if row else None

    def open_for(self, subscriber_id: int, *, lock: bool = False) -> TrustCredit | None:
        query = _OPEN_FOR_LOCKED if lock else _OPEN_FOR
        row = self.connection.execute(query, {"subscriber_id": subscriber_id}).first()
        return _credit(row) if row else None

    def owing_among(self, subscriber_ids: Sequence[int]) -> set[int]:
        """Which of these subscribers owe an open credit (one query, rows locked as
        ``open_for(lock=True)`` would)."""
        if not subscriber_ids:
            return set()
        rows = _OWING_AMONG.run(self.connection, sorted(set(subscriber_ids)))
        return {int(row[0]) for row in rows}

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
            _REAL_TOPUPS,
            {"subscriber_id": subscriber_id, "since": since, "excluded": list(excluded_channels)},
        ).one()
        return int(row[0]), int(row[1])

    def spend_since(self, account_id: int, since: datetime, kinds: Sequence[str]) -> Tiyn:
        """What the account paid for services (debits of those kinds) since ``since``."""
        found = self.connection.execute(
            select(func.coalesce(func.sum(-postings.c.amount), 0))
            .select_from(
                postings.join(
                    ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id
                )
            )
            .where(
                postings.c.account_id == account_id,
                postings.c.amount < 0,
                ledger_transactions.c.created_at >= since,
                ledger_transactions.c.kind.in_(list(kinds)),
            )
        ).scalar_one()
        return int(found)

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
