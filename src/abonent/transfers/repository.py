from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import case, func, select

from abonent.core.money import Tiyn
from abonent.transfers.tables import balance_transfers

# Reads of every transfer quote and replay, built once (see subscribers.repository).
_BY_SESSION = select(balance_transfers).where(
    balance_transfers.c.session_key == sa.bindparam("key")
)
_TODAY = balance_transfers.c.created_at >= sa.bindparam("day")
_SENT_TODAY_AND_MONTH = select(
    func.coalesce(func.sum(case((_TODAY, 1), else_=0)), 0),
    func.coalesce(func.sum(case((_TODAY, balance_transfers.c.amount), else_=0)), 0),
    func.coalesce(func.sum(balance_transfers.c.amount), 0),
).where(
    balance_transfers.c.sender_msisdn == sa.bindparam("sender"),
    balance_transfers.c.created_at >= sa.bindparam("month"),
)


@dataclass(frozen=True, slots=True)
class BalanceTransfer:
    id: int
    session_key: str
    sender_msisdn: str
    recipient_msisdn: str
    amount: Tiyn
    fee: Tiyn
    net: Tiyn
    sender_balance_after: Tiyn
    transaction_id: int
    payment_id: int
    created_at: datetime
    replayed: bool = False


class SqlTransferRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def insert(self, transfer: BalanceTransfer) -> int:
        values = {
            k: getattr(transfer, k)
            for k in (
                "session_key",
                "sender_msisdn",
                "recipient_msisdn",
                "amount",
                "fee",
                "net",
                "sender_balance_after",
                "transaction_id",
                "payment_id",
                "created_at",
            )
        }
        return int(
            self.connection.execute(
                balance_transfers.insert().returning(balance_transfers.c.id), values
            ).scalar_one()
        )

    def by_session(self, session_key: str) -> BalanceTransfer | None:
        row = self.connection.execute(_BY_SESSION, {"key": session_key}).first()
        if row is None:
            return None
        m = row._mapping
        return BalanceTransfer(
            id=int(m["id"]),
            session_key=m["session_key"],
            sender_msisdn=m["sender_msisdn"],
            recipient_msisdn=m["recipient_msisdn"],
            amount=int(m["amount"]),
            fee=int(m["fee"]),
            net=int(m["net"]),
            sender_balance_after=int(m["sender_balance_after"]),
            transaction_id=int(m["transaction_id"]),
            payment_id=int(m["payment_id"]),
            created_at=m["created_at"],
        )

    def sent_today_and_month(
        self, sender: str, day: datetime, month: datetime
    ) -> tuple[int, Tiyn, Tiyn]:
        """(count and sum since ``day``, sum since ``month``) in one query."""
        row = self.connection.execute(
            _SENT_TODAY_AND_MONTH, {"sender": sender, "day": day, "month": month}
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def sent_since(self, sender: str, since: datetime) -> tuple[int, Tiyn]:
        row = self.connection.execute(
            select(func.count(), func.coalesce(func.sum(balance_transfers.c.amount), 0)).where(
                balance_transfers.c.sender_msisdn == sender,
                balance_transfers.c.created_at >= since,
            )
        ).one()
        return int(row[0]), int(row[1])
