"""Storage of linked cards, card-link sessions and card payments (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from abonent.cards.domain import (
    Card,
    CardPayment,
    CardPaymentStatus,
    CardStatus,
    Initiator,
)
from abonent.cards.tables import card_link_sessions, card_payments, cards


class SqlCardRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    # -- cards ----------------------------------------------------------------------------
    def insert_card(
        self,
        *,
        owner_msisdn: str,
        acquirer: str,
        token: str,
        last4: str,
        brand: str,
        exp_month: int,
        exp_year: int,
        now: datetime,
    ) -> int:
        return int(
            self.connection.execute(
                cards.insert().returning(cards.c.id),
                {
                    "owner_msisdn": owner_msisdn,
                    "acquirer": acquirer,
                    "token": token,
                    "last4": last4,
                    "brand": brand,
                    "exp_month": exp_month,
                    "exp_year": exp_year,
                    "status": CardStatus.ACTIVE.value,
                    "created_at": now,
                },
            ).scalar_one()
        )

    def card(self, card_id: int, *, lock: bool = False) -> Card | None:
        query = select(cards).where(cards.c.id == card_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _card(row) if row else None

    def card_by_token(self, owner_msisdn: str, acquirer: str, token: str) -> Card | None:
        row = self.connection.execute(
            select(cards).where(
                cards.c.owner_msisdn == owner_msisdn,
                cards.c.acquirer == acquirer,
                cards.c.token == token,
            )
        ).first()
        return _card(row) if row else None

    def cards_of(self, owner_msisdn: str, *, include_removed: bool = False) -> list[Card]:
        query = select(cards).where(cards.c.owner_msisdn == owner_msisdn).order_by(cards.c.id)
        if not include_removed:
            query = query.where(cards.c.status == CardStatus.ACTIVE.value)
        return [_card(r) for r in self.connection.execute(query)]

    def set_card_status(self, card_id: int, status: CardStatus, now: datetime) -> None:
        values: dict[str, Any] = {"status": status.value}
        if status is CardStatus.REMOVED:
            values["removed_at"] = now
        elif status is CardStatus.ACTIVE:
            values["removed_at"] = None
        self.connection.execute(cards.update().where(cards.c.id == card_id).values(**values))

    # -- card-link sessions ---------------------------------------------------------------
    def insert_session(
        self, *, session_id: str, owner_msisdn: str, acquirer: str, now: datetime
    ) -> None:
        self.connection.execute(
            card_link_sessions.insert(),
            {
                "session_id": session_id,
                "owner_msisdn": owner_msisdn,
                "acquirer": acquirer,
                "status": "pending",
                "created_at": now,
            },
        )

    def session(self, session_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(card_link_sessions).where(card_link_sessions.c.session_id == session_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return dict(row._mapping) if row else None

    def complete_session(self, session_id: str, card_id: int, now: datetime) -> None:
        self.connection.execute(
            card_link_sessions.update()
            .where(card_link_sessions.c.session_id == session_id)
            .values(status="completed", card_id=card_id, completed_at=now)
        )

    # -- card payments --------------------------------------------------------------------
    def insert_payment(
        self,
        *,
        operation_id: str,
        idempotency_key: str,
        card: Card,
        target_msisdn: str,
        amount: int,
        initiator: Initiator,
        now: datetime,
    ) -> int:
        return int(
            self.connection.execute(
                card_payments.insert().returning(card_payments.c.id),
                {
                    "operation_id": operation_id,
                    "idempotency_key": idempotency_key,
                    "card_id": card.id,
                    "owner_msisdn": card.owner_msisdn,
                    "target_msisdn": target_msisdn,
                    "amount": amount,
                    "status": CardPaymentStatus.CREATED.value,
                    "initiator": initiator.value,
                    "acquirer": card.acquirer,
                    "reason": "",
                    "checks": 0,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        )

    def payment(self, payment_id: int, *, lock: bool = False) -> CardPayment | None:
        query = select(card_payments).where(card_payments.c.id == payment_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _payment(row) if row else None

    def payment_by_operation(self, operation_id: str) -> CardPayment | None:
        row = self.connection.execute(
            select(card_payments).where(card_payments.c.operation_id == operation_id)
        ).first()
        return _payment(row) if row else None

    def payment_by_key(self, idempotency_key: str) -> CardPayment | None:
        row = self.connection.execute(
            select(card_payments).where(card_payments.c.idempotency_key == idempotency_key)
        ).first()
        return _payment(row) if row else None

    def payments_of(self, owner_msisdn: str, *, limit: int = 50) -> list[CardPayment]:
        rows = self.connection.execute(
            select(card_payments)
            .where(card_payments.c.owner_msisdn == owner_msisdn)
            .order_by(card_payments.c.id.desc())
            .limit(limit)
        )
        return [_payment(r) for r in rows]

    def move(
        self,
        row_id: int,
        sources: Collection[CardPaymentStatus],
        target: CardPaymentStatus,
        now: datetime,
        **values: Any,
    ) -> bool:
        """Move a payment to ``target`` only if it is in one of ``sources`` (the race guard)."""
        result = self.connection.execute(
            card_payments.update()
            .where(
                card_payments.c.id == row_id,
                card_payments.c.status.in_(sorted(s.value for s in sources)),
            )
            .values(status=target.value, updated_at=now, **values)
        )
        return result.rowcount == 1

    def update(self, row_id: int, now: datetime, **values: Any) -> None:
        self.connection.execute(
            card_payments.update()
            .where(card_payments.c.id == row_id)
            .values(updated_at=now, **values)
        )

    def due_for_check(
        self, statuses: Sequence[CardPaymentStatus], now: datetime, *, limit: int
    ) -> list[CardPayment]:
        rows = self.connection.execute(
            select(card_payments)
            .where(
                card_payments.c.status.in_([s.value for s in statuses]),
                card_payments.c.next_check_at <= now,
            )
            .order_by(card_payments.c.next_check_at, card_payments.c.id)
            .limit(limit)
        )
        return [_payment(r) for r in rows]

    def automatic_since(self, owner_msisdn: str, since: datetime) -> tuple[int, int]:
        """Count and sum of automatic payments of an owner since ``since`` that may take money."""
        row = self.connection.execute(
            select(sa.func.count(), sa.func.coalesce(sa.func.sum(card_payments.c.amount), 0)).where(
                card_payments.c.owner_msisdn == owner_msisdn,
                card_payments.c.created_at >= since,
                card_payments.c.initiator == Initiator.AUTO.value,
                card_payments.c.status.not_in(
                    [CardPaymentStatus.DECLINED.value, CardPaymentStatus.FAILED.value]
                ),
            )
        ).one()
        return int(row[0]), int(row[1])


def _card(row: sa.Row[tuple[object, ...]]) -> Card:
    m = row._mapping
    return Card(
        id=int(m["id"]),
        owner_msisdn=m["owner_msisdn"],
        acquirer=m["acquirer"],
        token=m["token"],
        last4=m["last4"],
        brand=m["brand"],
        exp_month=int(m["exp_month"]),
        exp_year=int(m["exp_year"]),
        status=CardStatus(m["status"]),
        created_at=m["created_at"],
    )


def _payment(row: sa.Row[tuple[object, ...]]) -> CardPayment:
    m = row._mapping
    return CardPayment(
        id=int(m["id"]),
        operation_id=m["operation_id"],
        idempotency_key=m["idempotency_key"],
        card_id=int(m["card_id"]),
        owner_msisdn=m["owner_msisdn"],
        target_msisdn=m["target_msisdn"],
        amount=int(m["amount"]),
        status=CardPaymentStatus(m["status"]),
        initiator=Initiator(m["initiator"]),
        acquirer=m["acquirer"],
        acquirer_txn_id=m["acquirer_txn_id"],
        reason=m["reason"],
        acs_url=m["acs_url"],
        payment_id=None if m["payment_id"] is None else int(m["payment_id"]),
        checks=int(m["checks"]),
        next_check_at=m["next_check_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )
