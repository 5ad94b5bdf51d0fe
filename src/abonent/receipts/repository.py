"""Receipt storage (SQLAlchemy Core, SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from abonent.payments.tables import payments
from abonent.receipts.domain import FiscalRegistration, FiscalStatus, Receipt, ReceiptKind
from abonent.receipts.tables import receipts


class SqlReceiptRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def insert(self, values: dict[str, Any]) -> int:
        return int(
            self.connection.execute(receipts.insert().returning(receipts.c.id), values).scalar_one()
        )

    def insert_many(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.connection.execute(receipts.insert(), rows)

    def by_key(self, key: str) -> Receipt | None:
        row = self.connection.execute(
            select(receipts).where(receipts.c.idempotency_key == key)
        ).first()
        return _receipt(row) if row else None

    def by_token(self, token: str) -> Receipt | None:
        row = self.connection.execute(
            select(receipts).where(receipts.c.share_token == token)
        ).first()
        return _receipt(row) if row else None

    def by_id(self, receipt_id: int) -> Receipt | None:
        row = self.connection.execute(select(receipts).where(receipts.c.id == receipt_id)).first()
        return _receipt(row) if row else None

    def of_payment(self, payment_id: int) -> list[Receipt]:
        rows = self.connection.execute(
            select(receipts).where(receipts.c.payment_id == payment_id).order_by(receipts.c.id)
        )
        return [_receipt(r) for r in rows]

    def returned_total(self, payment_id: int) -> int:
        return int(
            self.connection.execute(
                select(func.coalesce(func.sum(receipts.c.amount), 0)).where(
                    receipts.c.payment_id == payment_id,
                    receipts.c.kind == ReceiptKind.RETURN.value,
                )
            ).scalar_one()
        )

    def of_subscriber(self, subscriber_id: int, *, limit: int = 50) -> list[Receipt]:
        rows = self.connection.execute(
            select(receipts)
            .join(payments, payments.c.id == receipts.c.payment_id)
            .where(payments.c.subscriber_id == subscriber_id)
            .order_by(receipts.c.id.desc())
            .limit(limit)
        )
        return [_receipt(r) for r in rows]

    def payments_without_receipt(self, *, limit: int) -> list[int]:
        missing = (
            select(payments.c.id)
            .outerjoin(
                receipts,
                sa.and_(
                    receipts.c.payment_id == payments.c.id,
                    receipts.c.kind == ReceiptKind.SALE.value,
                ),
            )
            .where(receipts.c.id.is_(None))
            .order_by(payments.c.id)
            .limit(limit)
        )
        return [int(r[0]) for r in self.connection.execute(missing)]

    def pending_fiscal(self, *, limit: int) -> list[Receipt]:
        rows = self.connection.execute(
            select(receipts)
            .where(receipts.c.fiscal_status == FiscalStatus.PENDING.value)
            .order_by(receipts.c.id)
            .limit(limit)
        )
        return [_receipt(r) for r in rows]

    def set_fiscal(self, receipt_id: int, registration: FiscalRegistration) -> bool:
        """Record the registration once; False if it was already recorded."""
        result = self.connection.execute(
            receipts.update()
            .where(
                receipts.c.id == receipt_id,
                receipts.c.fiscal_status == FiscalStatus.PENDING.value,
            )
            .values(
                fiscal_status=FiscalStatus.REGISTERED.value,
                fiscal_sign=registration.sign,
                fiscal_registered_at=registration.registered_at,
            )
        )
        return result.rowcount == 1


def _receipt(row: sa.Row[Any]) -> Receipt:
    m = row._mapping
    return Receipt(
        id=int(m["id"]),
        number=m["number"],
        kind=ReceiptKind(m["kind"]),
        payment_id=int(m["payment_id"]),
        share_token=m["share_token"],
        issued_at=m["issued_at"],
        seller_name=m["seller_name"],
        seller_bin=m["seller_bin"],
        seller_address=m["seller_address"],
        service=m["service"],
        msisdn_masked=m["msisdn_masked"],
        amount=int(m["amount"]),
        vat=int(m["vat"]),
        vat_rate_percent=int(m["vat_rate_percent"]),
        channel=m["channel"],
        method=m["method"],
        agent=m["agent"],
        agent_txn_id=m["agent_txn_id"],
        agent_txn_date=m["agent_txn_date"],
        reason=m["reason"],
        fiscal_status=FiscalStatus(m["fiscal_status"]),
        fiscal_sign=m["fiscal_sign"],
    )
