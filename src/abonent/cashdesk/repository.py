"""Cash machine storage (SQLAlchemy Core; SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from abonent.cashdesk.domain import AuthMethod, CashSession, Machine, SessionStatus
from abonent.cashdesk.tables import cash_auth_tokens, cash_machines, cash_notes, cash_sessions


class SqlCashRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    # -- machines --------------------------------------------------------------------------
    def insert_machine(self, code: str, name: str, key_hash: str, now: datetime) -> int:
        return int(
            self.connection.execute(
                cash_machines.insert().returning(cash_machines.c.id),
                {
                    "code": code,
                    "name": name,
                    "key_hash": key_hash,
                    "status": "active",
                    "created_at": now,
                },
            ).scalar_one()
        )

    def machine(self, code: str) -> tuple[Machine, str] | None:
        row = self.connection.execute(
            select(cash_machines).where(cash_machines.c.code == code)
        ).first()
        if row is None:
            return None
        m = row._mapping
        return Machine(int(m["id"]), m["code"], m["name"], m["status"]), m["key_hash"]

    # -- login tokens ----------------------------------------------------------------------
    def insert_token(
        self,
        kind: str,
        token_hash: str,
        subscriber_id: int,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        self.connection.execute(
            cash_auth_tokens.insert(),
            {
                "kind": kind,
                "token_hash": token_hash,
                "subscriber_id": subscriber_id,
                "expires_at": expires_at,
                "used_at": None,
                "created_at": now,
            },
        )

    def use_qr_token(self, token_hash: str, now: datetime) -> int | None:
        """Spend a one-time QR token: its subscriber id, or None if unknown, used or expired."""
        row = self.connection.execute(
            select(cash_auth_tokens.c.id, cash_auth_tokens.c.subscriber_id).where(
                cash_auth_tokens.c.token_hash == token_hash,
                cash_auth_tokens.c.kind == AuthMethod.QR.value,
            )
        ).first()
        if row is None:
            return None
        spent = self.connection.execute(
            cash_auth_tokens.update()
            .where(
                cash_auth_tokens.c.id == row[0],
                cash_auth_tokens.c.used_at.is_(None),
                cash_auth_tokens.c.expires_at > now,
            )
            .values(used_at=now)
        )
        return int(row[1]) if spent.rowcount == 1 else None

    def card_subscriber(self, token_hash: str) -> int | None:
        row = self.connection.execute(
            select(cash_auth_tokens.c.subscriber_id).where(
                cash_auth_tokens.c.token_hash == token_hash,
                cash_auth_tokens.c.kind == AuthMethod.CARD.value,
            )
        ).first()
        return None if row is None else int(row[0])

    # -- sessions --------------------------------------------------------------------------
    def insert_session(self, values: dict[str, Any]) -> None:
        self.connection.execute(cash_sessions.insert(), values)

    def session(
        self, session_id: str, machine_id: int, *, lock: bool = False
    ) -> CashSession | None:
        query = select(cash_sessions).where(
            cash_sessions.c.id == session_id, cash_sessions.c.machine_id == machine_id
        )
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _session(row) if row else None

    def note(self, session_id: str, seq: int) -> int | None:
        """The denomination stored for event ``seq`` of the session, or None."""
        row = self.connection.execute(
            select(cash_notes.c.denomination).where(
                cash_notes.c.session_id == session_id, cash_notes.c.seq == seq
            )
        ).first()
        return None if row is None else int(row[0])

    def notes(self, session_id: str) -> dict[int, int]:
        rows = self.connection.execute(
            select(cash_notes.c.seq, cash_notes.c.denomination).where(
                cash_notes.c.session_id == session_id
            )
        )
        return {int(s): int(d) for s, d in rows}

    def add_note(self, session_id: str, seq: int, denomination: int, now: datetime) -> None:
        self.connection.execute(
            cash_notes.insert(),
            {"session_id": session_id, "seq": seq, "denomination": denomination, "created_at": now},
        )
        self.connection.execute(
            cash_sessions.update()
            .where(cash_sessions.c.id == session_id)
            .values(
                inserted=cash_sessions.c.inserted + denomination,
                notes=cash_sessions.c.notes + 1,
            )
        )

    def set_status(
        self, session_id: str, status: SessionStatus, now: datetime, payment_id: int | None = None
    ) -> None:
        self.connection.execute(
            cash_sessions.update()
            .where(cash_sessions.c.id == session_id)
            .values(status=status.value, finished_at=now, payment_id=payment_id)
        )


def _session(row: sa.Row[Any]) -> CashSession:
    m = row._mapping
    return CashSession(
        id=m["id"],
        machine_id=int(m["machine_id"]),
        auth_method=AuthMethod(m["auth_method"]),
        subscriber_id=int(m["subscriber_id"]),
        msisdn=m["msisdn"],
        status=SessionStatus(m["status"]),
        inserted=int(m["inserted"]),
        notes=int(m["notes"]),
        payment_id=None if m["payment_id"] is None else int(m["payment_id"]),
        created_at=m["created_at"],
        finished_at=m["finished_at"],
    )


def subscriber_ids_by_iin(connection: sa.Connection, iin: str) -> list[int]:
    """Numbers registered to a person (not closed), oldest first."""
    from abonent.subscribers.domain import SubscriberStatus
    from abonent.subscribers.tables import subscribers

    rows = connection.execute(
        select(subscribers.c.id)
        .where(subscribers.c.iin == iin, subscribers.c.status != SubscriberStatus.CLOSED.value)
        .order_by(subscribers.c.id)
    )
    return [int(r[0]) for r in rows]
