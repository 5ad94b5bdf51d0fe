from __future__ import annotations

from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import select

from abonent.ledger.tables import accounts
from abonent.subscribers.domain import (
    Brand,
    Language,
    PaymentType,
    Subscriber,
    SubscriberStatus,
)
from abonent.subscribers.tables import brands, number_prefixes, subscribers

# Hot reads (every USSD step, transfer and credit check) as statements built once: building a
# SELECT costs several times more than running the cached compiled one.
_BY_MSISDN = select(subscribers).where(subscribers.c.msisdn == sa.bindparam("msisdn"))
_BY_MSISDN_LOCKED = _BY_MSISDN.with_for_update()
_BRAND = select(brands).where(brands.c.code == sa.bindparam("code"))
_BALANCE = select(accounts.c.balance).where(accounts.c.id == sa.bindparam("account_id"))


class SubscriberRepository(Protocol):
    def by_msisdn(self, msisdn: str, *, lock: bool = False) -> Subscriber | None: ...
    def insert(self, subscriber: Subscriber) -> int: ...
    def set_status(self, subscriber_id: int, status: SubscriberStatus, now: datetime) -> None: ...
    def brand(self, code: str) -> Brand | None: ...
    def prefixes(self) -> dict[str, str]: ...


class SqlSubscriberRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def by_msisdn(self, msisdn: str, *, lock: bool = False) -> Subscriber | None:
        query = _BY_MSISDN_LOCKED if lock else _BY_MSISDN
        row = self.connection.execute(query, {"msisdn": msisdn}).first()
        return _subscriber(row) if row else None

    def balance(self, account_id: int) -> int | None:
        """The balance of a subscriber's account (read without a lock)."""
        value = self.connection.execute(_BALANCE, {"account_id": account_id}).scalar()
        return None if value is None else int(value)

    def by_id(self, subscriber_id: int) -> Subscriber | None:
        row = self.connection.execute(
            select(subscribers).where(subscribers.c.id == subscriber_id)
        ).first()
        return _subscriber(row) if row else None

    def insert(self, subscriber: Subscriber) -> int:
        result = self.connection.execute(
            subscribers.insert().returning(subscribers.c.id),
            {
                "msisdn": subscriber.msisdn,
                "name": subscriber.name,
                "iin": subscriber.iin,
                "language": subscriber.language.value,
                "payment_type": subscriber.payment_type.value,
                "status": subscriber.status.value,
                "brand_code": subscriber.brand,
                "account_id": subscriber.account_id,
                "email": subscriber.email,
                "created_at": subscriber.created_at,
                "status_changed_at": subscriber.status_changed_at,
            },
        )
        return int(result.scalar_one())

    def set_status(self, subscriber_id: int, status: SubscriberStatus, now: datetime) -> None:
        self.connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(status=status.value, status_changed_at=now)
        )

    def update_contacts(self, subscriber_id: int, *, email: str | None, language: Language) -> None:
        self.connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(email=email, language=language.value)
        )

    def count(self) -> int:
        return int(
            self.connection.execute(select(sa.func.count()).select_from(subscribers)).scalar_one()
        )

    def page(self, *, limit: int = 50, after_id: int = 0) -> list[Subscriber]:
        rows = self.connection.execute(
            select(subscribers)
            .where(subscribers.c.id > after_id)
            .order_by(subscribers.c.id)
            .limit(limit)
        )
        return [_subscriber(row) for row in rows]

    # -- brands ---------------------------------------------------------------------------
    def brand(self, code: str) -> Brand | None:
        row = self.connection.execute(_BRAND, {"code": code}).first()
        return Brand(row.code, row.name, bool(row.home)) if row else None

    def all_brands(self) -> list[Brand]:
        rows = self.connection.execute(select(brands).order_by(brands.c.code))
        return [Brand(r.code, r.name, bool(r.home)) for r in rows]

    def prefixes(self) -> dict[str, str]:
        rows = self.connection.execute(select(number_prefixes))
        return {r.prefix: r.brand_code for r in rows}

    def upsert_brand(self, brand: Brand) -> None:
        if self.brand(brand.code) is None:
            self.connection.execute(
                brands.insert(), {"code": brand.code, "name": brand.name, "home": brand.home}
            )
        else:
            self.connection.execute(
                brands.update()
                .where(brands.c.code == brand.code)
                .values(name=brand.name, home=brand.home)
            )

    def set_prefix(self, prefix: str, brand_code: str) -> None:
        self.connection.execute(number_prefixes.delete().where(number_prefixes.c.prefix == prefix))
        self.connection.execute(
            number_prefixes.insert(), {"prefix": prefix, "brand_code": brand_code}
        )


def _subscriber(row: sa.Row[tuple[object, ...]]) -> Subscriber:
    m = row._mapping
    return Subscriber(
        id=int(m["id"]),
        msisdn=m["msisdn"],
        name=m["name"],
        iin=m["iin"],
        language=Language(m["language"]),
        payment_type=PaymentType(m["payment_type"]),
        status=SubscriberStatus(m["status"]),
        brand=m["brand_code"],
        account_id=int(m["account_id"]),
        email=m["email"],
        created_at=m["created_at"],
        status_changed_at=m["status_changed_at"],
    )
