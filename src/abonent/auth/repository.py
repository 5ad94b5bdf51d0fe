from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select

from abonent.auth.domain import CodePurpose, Session
from abonent.auth.tables import (
    auth_sessions,
    credentials,
    known_devices,
    login_failures,
    one_time_codes,
    password_changes,
)


class SqlAuthRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    # -- one-time codes -------------------------------------------------------------------
    def add_code(
        self,
        *,
        msisdn: str,
        purpose: CodePurpose,
        code_hash: str,
        ip: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        # A new code voids the earlier unused ones of the same purpose.
        self.connection.execute(
            one_time_codes.update()
            .where(
                one_time_codes.c.msisdn == msisdn,
                one_time_codes.c.purpose == purpose.value,
                one_time_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
        )
        self.connection.execute(
            one_time_codes.insert(),
            {
                "msisdn": msisdn,
                "purpose": purpose.value,
                "code_hash": code_hash,
                "ip": ip,
                "created_at": now,
                "expires_at": expires_at,
                "attempts": 0,
            },
        )

    def codes_sent_since(
        self, *, msisdn: str | None = None, ip: str | None = None, since: datetime
    ) -> int:
        query = (
            select(func.count())
            .select_from(one_time_codes)
            .where(one_time_codes.c.created_at >= since)
        )
        if msisdn is not None:
            query = query.where(one_time_codes.c.msisdn == msisdn)
        if ip is not None:
            query = query.where(one_time_codes.c.ip == ip)
        return int(self.connection.execute(query).scalar_one())

    def live_code(self, msisdn: str, purpose: CodePurpose) -> sa.Row[tuple[object, ...]] | None:
        return self.connection.execute(
            select(one_time_codes)
            .where(
                one_time_codes.c.msisdn == msisdn,
                one_time_codes.c.purpose == purpose.value,
                one_time_codes.c.used_at.is_(None),
            )
            .order_by(one_time_codes.c.id.desc())
            .limit(1)
            .with_for_update()
        ).first()

    def count_code_attempt(self, code_id: int) -> None:
        self.connection.execute(
            one_time_codes.update()
            .where(one_time_codes.c.id == code_id)
            .values(attempts=one_time_codes.c.attempts + 1)
        )

    def use_code(self, code_id: int, now: datetime) -> bool:
        """Mark a code used; False if someone else used it first (single use under races)."""
        result = self.connection.execute(
            one_time_codes.update()
            .where(one_time_codes.c.id == code_id, one_time_codes.c.used_at.is_(None))
            .values(used_at=now)
        )
        return result.rowcount == 1

    # -- passwords ------------------------------------------------------------------------
    def password_hash(self, subscriber_id: int) -> str | None:
        value = self.connection.execute(
            select(credentials.c.password_hash).where(credentials.c.subscriber_id == subscriber_id)
        ).scalar_one_or_none()
        return None if value is None else str(value)

    def set_password_hash(
        self, subscriber_id: int, password_hash: str, now: datetime, via: str
    ) -> None:
        updated = self.connection.execute(
            credentials.update()
            .where(credentials.c.subscriber_id == subscriber_id)
            .values(password_hash=password_hash, changed_at=now)
        )
        if updated.rowcount == 0:
            self.connection.execute(
                credentials.insert(),
                {"subscriber_id": subscriber_id, "password_hash": password_hash, "changed_at": now},
            )
        self.connection.execute(
            password_changes.insert(), {"subscriber_id": subscriber_id, "at": now, "via": via}
        )

    def password_changes_since(self, subscriber_id: int, since: datetime) -> int:
        return int(
            self.connection.execute(
                select(func.count())
                .select_from(password_changes)
                .where(
                    password_changes.c.subscriber_id == subscriber_id,
                    password_changes.c.at >= since,
                    password_changes.c.via == "change",
                )
            ).scalar_one()
        )

    # -- throttling -----------------------------------------------------------------------
    def add_failure(self, key: str, now: datetime) -> None:
        self.connection.execute(login_failures.insert(), {"key": key, "at": now})

    def failures_since(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        row = self.connection.execute(
            select(func.count(), func.max(login_failures.c.at)).where(
                login_failures.c.key == key, login_failures.c.at >= since
            )
        ).one()
        last = row[1]
        if last is not None and last.tzinfo is None:  # SQLite aggregates lose the type
            from datetime import UTC

            last = datetime.fromisoformat(str(last)).replace(tzinfo=UTC)
        elif isinstance(last, str):
            from datetime import UTC

            last = datetime.fromisoformat(last).replace(tzinfo=UTC)
        return int(row[0]), last

    def clear_failures(self, key: str) -> None:
        self.connection.execute(login_failures.delete().where(login_failures.c.key == key))

    # -- sessions -------------------------------------------------------------------------
    def add_session(self, session: Session) -> None:
        self.connection.execute(
            auth_sessions.insert(),
            {
                "id_hash": session.id_hash,
                "subscriber_id": session.subscriber_id,
                "msisdn": session.msisdn,
                "kind": session.kind,
                "created_at": session.created_at,
                "last_seen_at": session.last_seen_at,
                "csrf_token": session.csrf_token,
                "device_id": session.device_id,
                "ip": session.ip,
                "user_agent": session.user_agent,
                "stepped_up_at": session.stepped_up_at,
                "revoked_at": session.revoked_at,
            },
        )

    def session(self, id_hash: str) -> Session | None:
        row = self.connection.execute(
            select(auth_sessions).where(auth_sessions.c.id_hash == id_hash)
        ).first()
        return _session(row) if row else None

    def sessions_of(self, subscriber_id: int) -> list[Session]:
        rows = self.connection.execute(
            select(auth_sessions)
            .where(
                auth_sessions.c.subscriber_id == subscriber_id, auth_sessions.c.revoked_at.is_(None)
            )
            .order_by(auth_sessions.c.created_at.desc())
        )
        return [_session(r) for r in rows]

    def touch(self, id_hash: str, now: datetime) -> None:
        self.connection.execute(
            auth_sessions.update()
            .where(auth_sessions.c.id_hash == id_hash)
            .values(last_seen_at=now)
        )

    def mark_stepped_up(self, id_hash: str, now: datetime) -> None:
        self.connection.execute(
            auth_sessions.update()
            .where(auth_sessions.c.id_hash == id_hash)
            .values(stepped_up_at=now)
        )

    def revoke(self, id_hash: str, now: datetime) -> None:
        self.connection.execute(
            auth_sessions.update()
            .where(auth_sessions.c.id_hash == id_hash, auth_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def revoke_all_but(self, subscriber_id: int, keep_id_hash: str, now: datetime) -> int:
        result = self.connection.execute(
            auth_sessions.update()
            .where(
                auth_sessions.c.subscriber_id == subscriber_id,
                auth_sessions.c.id_hash != keep_id_hash,
                auth_sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return int(result.rowcount)

    # -- devices --------------------------------------------------------------------------
    def remember_device(
        self, subscriber_id: int, device_id: str, user_agent: str, now: datetime
    ) -> bool:
        """True if the device is new for this subscriber (and now remembered)."""
        known = self.connection.execute(
            select(known_devices.c.id).where(
                known_devices.c.subscriber_id == subscriber_id,
                known_devices.c.device_id == device_id,
            )
        ).first()
        if known:
            return False
        self.connection.execute(
            known_devices.insert(),
            {
                "subscriber_id": subscriber_id,
                "device_id": device_id,
                "first_seen_at": now,
                "user_agent": user_agent[:300],
            },
        )
        return True


def _session(row: sa.Row[tuple[object, ...]]) -> Session:
    m = row._mapping
    return Session(
        id_hash=m["id_hash"],
        subscriber_id=int(m["subscriber_id"]),
        msisdn=m["msisdn"],
        kind=m["kind"],
        created_at=m["created_at"],
        last_seen_at=m["last_seen_at"],
        csrf_token=m["csrf_token"],
        device_id=m["device_id"],
        ip=m["ip"],
        user_agent=m["user_agent"],
        stepped_up_at=m["stepped_up_at"],
        revoked_at=m["revoked_at"],
    )
