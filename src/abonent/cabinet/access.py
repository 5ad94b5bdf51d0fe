"""The one place where every cabinet read and write is authorised (object-level access)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import select

from abonent.cabinet.domain import Grant, GrantKind, Right, effective_right, require_right
from abonent.cabinet.tables import access_grants
from abonent.core.errors import Forbidden, InvalidMsisdn
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import UnitOfWork
from abonent.subscribers.domain import Subscriber
from abonent.subscribers.tables import subscribers


class SqlGrantRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def grants_between(self, grantee_id: int, target_id: int) -> list[Grant]:
        return self._select(
            (access_grants.c.grantee_subscriber_id == grantee_id)
            & (access_grants.c.target_subscriber_id == target_id)
            & access_grants.c.revoked_at.is_(None)
        )

    def grants_of_grantee(self, grantee_id: int) -> list[Grant]:
        return self._select(
            (access_grants.c.grantee_subscriber_id == grantee_id)
            & access_grants.c.revoked_at.is_(None)
        )

    def grants_on_target(self, target_id: int) -> list[Grant]:
        return self._select(
            (access_grants.c.target_subscriber_id == target_id)
            & access_grants.c.revoked_at.is_(None)
        )

    def add(
        self, *, grantee_id: int, target_id: int, kind: GrantKind, right: Right, now: datetime
    ) -> int:
        return int(
            self.connection.execute(
                access_grants.insert().returning(access_grants.c.id),
                {
                    "grantee_subscriber_id": grantee_id,
                    "target_subscriber_id": target_id,
                    "kind": kind.value,
                    "right": int(right),
                    "created_at": now,
                },
            ).scalar_one()
        )

    def revoke(self, grant_id: int, now: datetime) -> None:
        self.connection.execute(
            access_grants.update()
            .where(access_grants.c.id == grant_id, access_grants.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def by_id(self, grant_id: int) -> Grant | None:
        found = self._select(access_grants.c.id == grant_id)
        return found[0] if found else None

    def _select(self, condition: sa.ColumnElement[bool]) -> list[Grant]:
        grantee = subscribers.alias("grantee")
        target = subscribers.alias("target")
        rows = self.connection.execute(
            select(
                access_grants,
                grantee.c.msisdn.label("grantee_msisdn"),
                target.c.msisdn.label("target_msisdn"),
            )
            .join(grantee, grantee.c.id == access_grants.c.grantee_subscriber_id)
            .join(target, target.c.id == access_grants.c.target_subscriber_id)
            .where(condition)
            .order_by(access_grants.c.id)
        )
        return [
            Grant(
                id=int(r.id),
                grantee_subscriber_id=int(r.grantee_subscriber_id),
                target_subscriber_id=int(r.target_subscriber_id),
                target_msisdn=r.target_msisdn,
                grantee_msisdn=r.grantee_msisdn,
                kind=GrantKind(r.kind),
                right=Right(int(r.right)),
                created_at=r.created_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]


def authorize(
    uow: UnitOfWork, principal: Subscriber, target_msisdn: str, needed: Right
) -> Subscriber:
    """The target subscriber if ``principal`` holds at least ``needed`` on it; else Forbidden.

    Unknown and foreign numbers are refused with the same answer as numbers of others.
    """
    try:
        msisdn = parse_msisdn(target_msisdn)
    except InvalidMsisdn:
        raise Forbidden("you have no access to this number") from None
    if msisdn == principal.msisdn:
        require_right(Right.OWNER, needed)
        return principal
    target = uow.subscribers.by_msisdn(msisdn)
    if target is None:
        raise Forbidden("you have no access to this number")
    grants = SqlGrantRepository(uow.connection).grants_between(principal.id, target.id)
    require_right(effective_right(principal.id, target.id, grants), needed)
    return target
