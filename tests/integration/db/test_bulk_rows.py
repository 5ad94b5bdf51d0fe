"""The group commit's statements on the driver (``db.bulk_rows``: ``insert_rows``,
``read_rows``, ``deferred_inserts``) store and read exactly what SQLAlchemy would, and fail as
SQLAlchemy fails, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from abonent.audit.tables import audit_log
from abonent.db.bulk_rows import deferred_inserts, insert_rows, read_rows
from abonent.db.uow import Database
from abonent.outbox.tables import outbox

pytestmark = pytest.mark.storage

NOW = datetime(2026, 1, 15, 9, 15, tzinfo=UTC)


def _sms(n: int, at: datetime = NOW) -> dict[str, object]:
    return {
        "created_at": at,
        "topic": "sms",
        "recipient": f"+7707000000{n}",
        "payload": {"to": f"+7707000000{n}", "text": f"Баланс {n} ₸ <&>"},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": at + timedelta(minutes=n),
    }


def _stored_sms(db: Database) -> list[tuple[object, ...]]:
    with db.reading() as uow:
        rows = uow.connection.execute(
            sa.select(
                outbox.c.recipient,
                outbox.c.payload,
                outbox.c.created_at,
                outbox.c.next_attempt_at,
                outbox.c.sent_at,
            ).order_by(outbox.c.id)
        )
        return [tuple(row) for row in rows]


def test_inserted_rows_read_back_as_sqlalchemy_would_write_them(db: Database) -> None:
    with db.uow() as uow:
        ids = insert_rows(uow.connection, outbox, [_sms(1), _sms(2)], returning=("id",))
        uow.connection.execute(outbox.insert(), _sms(3))
        uow.commit()
    assert len({row[0] for row in ids}) == 2
    stored = _stored_sms(db)
    assert [row[0] for row in stored] == ["+77070000001", "+77070000002", "+77070000003"]
    assert stored[0][1] == {"to": "+77070000001", "text": "Баланс 1 ₸ <&>"}
    assert stored[1][2:] == (NOW, NOW + timedelta(minutes=2), None)
    with db.reading() as uow:  # the JSON text itself, as SQLAlchemy's serializer writes it
        texts = uow.connection.execute(
            sa.select(sa.cast(outbox.c.payload, sa.String)).order_by(outbox.c.id)
        ).scalars()
        first, _, third = list(texts)
    assert json.loads(first) == {"to": "+77070000001", "text": "Баланс 1 ₸ <&>"}
    assert json.loads(third)["text"] == "Баланс 3 ₸ <&>"


def test_rows_read_on_the_driver_come_back_typed(db: Database) -> None:
    with db.uow() as uow:
        insert_rows(uow.connection, outbox, [_sms(1)])
        postgresql = uow.connection.dialect.name == "postgresql"
        sql = "SELECT recipient, created_at, sent_at FROM outbox WHERE recipient = " + (
            "%s" if postgresql else "?"
        )
        rows = read_rows(
            uow.connection, outbox, ("recipient", "created_at", "sent_at"), sql, ("+77070000001",)
        )
    assert rows == [("+77070000001", NOW, None)]


def test_a_repeated_key_is_an_integrity_error_and_nothing_of_the_block_stays(
    db: Database,
) -> None:
    row = {"at": NOW, "actor": "t", "action": "a", "subject": "s", "details": {}}
    with db.uow() as uow:
        insert_rows(uow.connection, audit_log, [row])
        uow.commit()
    with db.uow() as uow:
        first_id = uow.connection.execute(sa.select(sa.func.max(audit_log.c.id))).scalar_one()
        with pytest.raises(sa_exc.IntegrityError), deferred_inserts(uow.connection):
            insert_rows(uow.connection, outbox, [_sms(1)])
            insert_rows(uow.connection, audit_log, [{**row, "id": first_id}])
    assert _stored_sms(db) == []


def test_deferred_rows_are_written_when_the_block_ends_and_dropped_when_it_fails(
    db: Database,
) -> None:
    with db.uow() as uow:
        with deferred_inserts(uow.connection):
            insert_rows(uow.connection, outbox, [_sms(1), _sms(2)])
            with deferred_inserts(uow.connection):  # nested: one queue, sent once
                insert_rows(uow.connection, outbox, [_sms(3)])
        uow.commit()
    assert [row[0] for row in _stored_sms(db)] == [
        "+77070000001",
        "+77070000002",
        "+77070000003",
    ]
    with db.uow() as uow:
        with pytest.raises(RuntimeError), deferred_inserts(uow.connection):
            insert_rows(uow.connection, outbox, [_sms(4)])
            raise RuntimeError("the batch failed")
        count = sa.select(sa.func.count()).select_from(outbox)
        # PostgreSQL dropped the queue; SQLite (nothing deferred) wrote the row at once, and
        # the caller's rollback undoes it, as it undoes everything else of the failed batch.
        postgresql = uow.connection.dialect.name == "postgresql"
        assert uow.connection.execute(count).scalar_one() == (3 if postgresql else 4)
    assert len(_stored_sms(db)) == 3


def _stored_texts(
    db: Database, table: sa.Table, columns: tuple[str, ...]
) -> list[tuple[object, ...]]:
    """The columns as the database holds them (text for JSON and, on SQLite, datetimes)."""
    with db.reading() as uow:
        rows = uow.connection.execute(
            sa.select(*(sa.cast(table.c[name], sa.String) for name in columns)).order_by(table.c.id)
        )
        return [tuple(row) for row in rows]


def test_shared_values_and_fast_processing_store_what_sqlalchemy_stores(db: Database) -> None:
    almaty = timezone(timedelta(hours=5))
    moments = [
        NOW.replace(microsecond=123456),
        NOW,
        datetime(2026, 1, 15, 14, 15, 1, tzinfo=almaty),  # another zone: stored as UTC
    ]
    rows = [
        {**_sms(n, at), "payload": payload}
        for n, at, payload in zip(
            (1, 2, 3),
            moments,
            [
                {"text": 'Баланс "1" ₸\n<&>', "n": [1, 2.5, None, True, {}]},
                [{"a": []}, "x"],
                {},
            ],
            strict=True,
        )
    ]
    shared = {"topic": "sms", "status": "pending", "attempts": 0, "created_at": moments[0]}
    with db.uow() as uow:
        uow.connection.execute(outbox.insert(), [{**row, **shared} for row in rows])
        own = [{k: v for k, v in row.items() if k not in shared} for row in rows]
        insert_rows(uow.connection, outbox, own, shared=shared)
        uow.commit()
    columns = ("created_at", "topic", "recipient", "payload", "status", "attempts")
    stored = _stored_texts(db, outbox, (*columns, "next_attempt_at"))
    assert stored[3:] == stored[:3]
    with db.reading() as uow:
        sql = "SELECT created_at, next_attempt_at FROM outbox ORDER BY id"
        read = read_rows(uow.connection, outbox, ("created_at", "next_attempt_at"), sql, ())
    assert read[3:] == read[:3]
    assert [at for _, at in read[:3]] == [
        m + timedelta(minutes=n) for n, m in enumerate(moments, 1)
    ]
    assert all(at.tzinfo is UTC for pair in read for at in pair)


def test_many_rows_with_shared_values_go_in_several_statements(db: Database) -> None:
    rows = [{"recipient": f"+7707{n:07d}", "payload": {"n": n}} for n in range(4_000)]
    with db.uow() as uow:
        ids = insert_rows(
            uow.connection,
            outbox,
            rows,
            shared={"created_at": NOW, "topic": "sms", "status": "pending", "attempts": 0},
            returning=("id",),
        )
        uow.commit()
    assert len({row[0] for row in ids}) == 4_000
    stored = _stored_sms(db)
    assert [row[0] for row in stored] == [row["recipient"] for row in rows]
    assert {row[2] for row in stored} == {NOW}
