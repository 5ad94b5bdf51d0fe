from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select

from abonent.core.money import Tiyn
from abonent.messaging.domain import CollectCall, CollectStatus, NotifyKind
from abonent.messaging.tables import collect_calls, notify_requests

# Reads of every "call me" / "top up my account" request (USSD), built once: building a SELECT
# costs several times more than running its cached compiled form.
_NOTIFY_BY_SESSION = select(notify_requests.c.kind, notify_requests.c.target_msisdn).where(
    notify_requests.c.session_key == sa.bindparam("key")
)
_COUNT_NOTIFY = select(func.count()).where(
    notify_requests.c.sender_msisdn == sa.bindparam("sender"),
    notify_requests.c.kind == sa.bindparam("kind"),
    notify_requests.c.created_at >= sa.bindparam("since"),
)


class SqlMessagingRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def add_notify(
        self, kind: NotifyKind, sender: str, target: str, session_key: str, now: datetime
    ) -> int:
        return int(
            self.connection.execute(
                notify_requests.insert().returning(notify_requests.c.id),
                {
                    "kind": kind.value,
                    "sender_msisdn": sender,
                    "target_msisdn": target,
                    "session_key": session_key,
                    "created_at": now,
                },
            ).scalar_one()
        )

    def notify_by_session(self, session_key: str) -> tuple[str, str] | None:
        row = self.connection.execute(_NOTIFY_BY_SESSION, {"key": session_key}).first()
        return (row[0], row[1]) if row else None

    def count_notify(self, kind: NotifyKind, sender: str, since: datetime) -> int:
        return int(
            self.connection.execute(
                _COUNT_NOTIFY, {"sender": sender, "kind": kind.value, "since": since}
            ).scalar_one()
        )

    def add_call(self, caller: str, callee: str, session_key: str, now: datetime) -> int:
        return int(
            self.connection.execute(
                collect_calls.insert().returning(collect_calls.c.id),
                {
                    "caller_msisdn": caller,
                    "callee_msisdn": callee,
                    "status": CollectStatus.PENDING.value,
                    "session_key": session_key,
                    "created_at": now,
                },
            ).scalar_one()
        )

    def call(self, call_id: int, *, lock: bool = False) -> CollectCall | None:
        query = select(collect_calls).where(collect_calls.c.id == call_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _call(row) if row else None

    def call_by_session(self, session_key: str) -> CollectCall | None:
        row = self.connection.execute(
            select(collect_calls).where(collect_calls.c.session_key == session_key)
        ).first()
        return _call(row) if row else None

    def calls_of(
        self, msisdn: str, *, role: str, statuses: tuple[CollectStatus, ...], limit: int = 20
    ) -> list[CollectCall]:
        column = (
            collect_calls.c.callee_msisdn if role == "callee" else collect_calls.c.caller_msisdn
        )
        rows = self.connection.execute(
            select(collect_calls)
            .where(column == msisdn, collect_calls.c.status.in_([s.value for s in statuses]))
            .order_by(collect_calls.c.id.desc())
            .limit(limit)
        )
        return [_call(r) for r in rows]

    def set_call(self, call_id: int, **values: object) -> None:
        status = values.get("status")
        if isinstance(status, CollectStatus):
            values["status"] = status.value
        self.connection.execute(
            collect_calls.update().where(collect_calls.c.id == call_id).values(**values)
        )

    def set_charged(self, call_id: int, charged: Tiyn) -> None:
        self.set_call(call_id, charged=charged)


def _call(row: sa.Row[tuple[object, ...]]) -> CollectCall:
    m = row._mapping
    return CollectCall(
        id=int(m["id"]),
        caller_msisdn=m["caller_msisdn"],
        callee_msisdn=m["callee_msisdn"],
        status=CollectStatus(m["status"]),
        created_at=m["created_at"],
        decided_at=m["decided_at"],
        duration_seconds=m["duration_seconds"],
        charged=None if m["charged"] is None else int(m["charged"]),
    )
