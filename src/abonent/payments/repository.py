from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import select

from abonent.core.money import Tiyn
from abonent.payments.domain import Channel, Payment, PaymentStatus
from abonent.payments.tables import payments


class SqlPaymentRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def insert(
        self,
        *,
        source: str,
        external_id: str,
        external_date: str | None,
        fingerprint: str,
        msisdn: str,
        subscriber_id: int,
        amount: Tiyn,
        channel: Channel,
        method: str,
        transaction_id: int,
        now: datetime,
    ) -> tuple[int, str]:
        """Insert a credited payment; the receipt number derives from the ledger transaction."""
        receipt_number = f"R{transaction_id:010d}"
        payment_id = self.connection.execute(
            payments.insert().returning(payments.c.id),
            {
                "receipt_number": receipt_number,
                "source": source,
                "external_id": external_id,
                "external_date": external_date,
                "fingerprint": fingerprint,
                "msisdn": msisdn,
                "subscriber_id": subscriber_id,
                "amount": amount,
                "channel": channel.value,
                "method": method,
                "transaction_id": transaction_id,
                "status": PaymentStatus.CREDITED.value,
                "created_at": now,
            },
        ).scalar_one()
        return int(payment_id), receipt_number

    def by_key(self, source: str, external_id: str) -> Payment | None:
        row = self.connection.execute(
            select(payments).where(
                payments.c.source == source, payments.c.external_id == external_id
            )
        ).first()
        return _payment(row) if row else None

    def by_receipt(self, receipt_number: str) -> Payment | None:
        row = self.connection.execute(
            select(payments).where(payments.c.receipt_number == receipt_number)
        ).first()
        return _payment(row) if row else None

    def by_id(self, payment_id: int) -> Payment | None:
        row = self.connection.execute(select(payments).where(payments.c.id == payment_id)).first()
        return _payment(row) if row else None

    def set_status(self, payment_id: int, status: PaymentStatus) -> None:
        self.connection.execute(
            payments.update().where(payments.c.id == payment_id).values(status=status.value)
        )

    def of_subscriber(self, subscriber_id: int, *, limit: int = 50) -> list[Payment]:
        rows = self.connection.execute(
            select(payments)
            .where(payments.c.subscriber_id == subscriber_id)
            .order_by(payments.c.id.desc())
            .limit(limit)
        )
        return [_payment(r) for r in rows]


def _payment(row: sa.Row[tuple[object, ...]]) -> Payment:
    m = row._mapping
    return Payment(
        id=int(m["id"]),
        receipt_number=m["receipt_number"],
        msisdn=m["msisdn"],
        subscriber_id=int(m["subscriber_id"]),
        amount=int(m["amount"]),
        channel=Channel(m["channel"]),
        source=m["source"],
        external_id=m["external_id"],
        external_date=m["external_date"],
        method=m["method"],
        transaction_id=int(m["transaction_id"]),
        status=PaymentStatus(m["status"]),
        created_at=m["created_at"],
        fingerprint=m["fingerprint"],
    )
