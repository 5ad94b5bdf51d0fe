"""Agent storage: agents and their payments (SQL on SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, select

from abonent.agents.domain import Agent, AgentPayment, AgentPaymentStatus, Dialect
from abonent.agents.tables import agent_payments, agents
from abonent.core.errors import StorageUnavailable
from abonent.core.money import Tiyn
from abonent.db.bulk_rows import insert_tuples, json_text, read_rows
from abonent.db.uow import STORAGE_ERRORS, Database

_BY_KEY = select(agent_payments).where(
    agent_payments.c.agent_id == bindparam("agent_id"),
    agent_payments.c.txn_id == bindparam("txn_id"),
)
_INSERT = agent_payments.insert()
_PAYMENT_COLUMNS = tuple(c.name for c in agent_payments.columns)
# The values of a new payment row for ``insert_payments``, in order (status apart: one for all).
NEW_PAYMENT_COLUMNS = (
    "agent_id",
    "txn_id",
    "txn_date",
    "txn_day",
    "msisdn",
    "amount",
    "payment_id",
    "fingerprint",
    "created_at",
)
_SQLITE_BY_KEYS = (
    f"SELECT {', '.join(_PAYMENT_COLUMNS)} FROM agent_payments"  # noqa: S608
    " WHERE agent_id IN (SELECT value FROM json_each(?))"
    " AND txn_id IN (SELECT value FROM json_each(?))"
)
_PG_BY_KEYS = (
    f"SELECT {', '.join(_PAYMENT_COLUMNS)} FROM agent_payments"  # noqa: S608
    " WHERE agent_id = ANY(%b::bigint[]) AND txn_id = ANY(%b::varchar[])"
)


class SqlAgentRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    # -- agents ---------------------------------------------------------------------------
    def insert_agent(
        self,
        *,
        code: str,
        name: str,
        dialect: Dialect,
        password_hash: str | None,
        allow_ips: tuple[str, ...],
        min_sum: Tiyn,
        max_sum: Tiyn,
        clearing_account_id: int,
        now: datetime,
    ) -> int:
        result = self.connection.execute(
            agents.insert().returning(agents.c.id),
            {
                "code": code,
                "name": name,
                "dialect": dialect.value,
                "password_hash": password_hash,
                "allow_ips": list(allow_ips),
                "min_sum": min_sum,
                "max_sum": max_sum,
                "clearing_account_id": clearing_account_id,
                "created_at": now,
            },
        )
        return int(result.scalar_one())

    def by_code(self, code: str) -> Agent | None:
        row = self.connection.execute(select(agents).where(agents.c.code == code)).first()
        return _agent(row) if row else None

    def all(self) -> list[Agent]:
        return [_agent(r) for r in self.connection.execute(select(agents).order_by(agents.c.code))]

    # -- payments -------------------------------------------------------------------------
    def insert_payment(
        self,
        *,
        agent_id: int,
        txn_id: str,
        txn_date: str | None,
        txn_day: str | None,
        msisdn: str,
        amount: Tiyn,
        payment_id: int,
        fingerprint: str,
        now: datetime,
    ) -> None:
        self.connection.execute(
            _INSERT,
            {
                "agent_id": agent_id,
                "txn_id": txn_id,
                "txn_date": txn_date,
                "txn_day": txn_day,
                "msisdn": msisdn,
                "amount": amount,
                "payment_id": payment_id,
                "fingerprint": fingerprint,
                "status": AgentPaymentStatus.CREDITED.value,
                "created_at": now,
            },
        )

    def payment(self, agent_id: int, txn_id: str, *, lock: bool = False) -> AgentPayment | None:
        query = _BY_KEY.with_for_update() if lock else _BY_KEY
        row = self.connection.execute(query, {"agent_id": agent_id, "txn_id": txn_id}).first()
        return _payment(row) if row else None

    def payments_by_keys(self, keys: list[tuple[int, str]]) -> dict[tuple[int, str], AgentPayment]:
        """The stored payments with these (agent id, txn_id) keys, in one query (a group
        commit's first statement: its text is fixed, its rows read on the driver)."""
        if not keys:
            return {}
        agent_ids = sorted({a for a, _ in keys})
        txn_ids = sorted({t for _, t in keys})
        params: tuple[object, ...]
        if self.connection.dialect.name == "postgresql":
            sql, params = _PG_BY_KEYS, (agent_ids, txn_ids)
        else:
            sql, params = _SQLITE_BY_KEYS, (json_text(agent_ids), json_text(txn_ids))
        rows = read_rows(self.connection, agent_payments, _PAYMENT_COLUMNS, sql, params)
        wanted = set(keys)
        found = (_payment_of(row) for row in rows)
        return {(p.agent_id, p.txn_id): p for p in found if (p.agent_id, p.txn_id) in wanted}

    def insert_payments(
        self, rows: list[tuple[object, ...]], *, shared: dict[str, object] | None = None
    ) -> None:
        """Insert many payment rows with one statement: each a tuple of ``NEW_PAYMENT_COLUMNS``'
        values, the columns with one value for every row in ``shared``."""
        insert_tuples(self.connection, agent_payments, NEW_PAYMENT_COLUMNS, rows, shared=shared)

    def set_status(self, payment_row_id: int, status: AgentPaymentStatus) -> None:
        self.connection.execute(
            agent_payments.update()
            .where(agent_payments.c.id == payment_row_id)
            .values(status=status.value)
        )

    def payments_on_days(self, agent_id: int, days: list[str]) -> list[AgentPayment]:
        rows = self.connection.execute(
            select(agent_payments)
            .where(agent_payments.c.agent_id == agent_id, agent_payments.c.txn_day.in_(days))
            .order_by(agent_payments.c.id)
        )
        return [_payment(r) for r in rows]

    def payments_with_ids(self, agent_id: int, txn_ids: list[str]) -> list[AgentPayment]:
        found: list[AgentPayment] = []
        for start in range(0, len(txn_ids), 500):
            rows = self.connection.execute(
                select(agent_payments).where(
                    agent_payments.c.agent_id == agent_id,
                    agent_payments.c.txn_id.in_(txn_ids[start : start + 500]),
                )
            )
            found += [_payment(r) for r in rows]
        return found

    def count_payments(self, agent_id: int | None = None) -> int:
        query = select(sa.func.count()).select_from(agent_payments)
        if agent_id is not None:
            query = query.where(agent_payments.c.agent_id == agent_id)
        return int(self.connection.execute(query).scalar_one())


def _agent(row: sa.Row[tuple[object, ...]]) -> Agent:
    m = row._mapping
    return Agent(
        id=int(m["id"]),
        code=m["code"],
        name=m["name"],
        dialect=Dialect(m["dialect"]),
        password_hash=m["password_hash"],
        allow_ips=tuple(m["allow_ips"] or ()),
        min_sum=int(m["min_sum"]),
        max_sum=int(m["max_sum"]),
        clearing_account_id=int(m["clearing_account_id"]),
        created_at=m["created_at"],
    )


def _payment(row: sa.Row[tuple[object, ...]]) -> AgentPayment:
    return _payment_of(tuple(row._mapping[name] for name in _PAYMENT_COLUMNS))


def _payment_of(values: tuple[Any, ...]) -> AgentPayment:
    """An agent payment from its row's values in ``_PAYMENT_COLUMNS`` order."""
    m = dict(zip(_PAYMENT_COLUMNS, values, strict=True))
    return AgentPayment(
        id=int(m["id"]),
        agent_id=int(m["agent_id"]),
        txn_id=m["txn_id"],
        txn_date=m["txn_date"],
        txn_day=m["txn_day"],
        msisdn=m["msisdn"],
        amount=int(m["amount"]),
        payment_id=int(m["payment_id"]),
        fingerprint=m["fingerprint"],
        status=AgentPaymentStatus(m["status"]),
        created_at=m["created_at"],
    )


_STATUS_SQLITE = "SELECT status FROM subscribers WHERE msisdn = ?"
_STATUS_PG = "SELECT status FROM subscribers WHERE msisdn = %s"


_STATUS_SQLITE = "SELECT status FROM subscribers WHERE msisdn = ?"
_STATUS_PG = "SELECT status FROM subscribers WHERE msisdn = %s"


class SubscriberStatusReader:
    """A number's subscriber status through one dedicated DBAPI connection in autocommit
    mode: the agents' ``check`` is one indexed SELECT, and a unit of work around it (pool
    checkout and ping, BEGIN, ROLLBACK, SQLAlchemy's statement machinery) cost ten times the
    query. Each statement reads the latest committed data, as a read-only unit of work would.

    One caller at a time (a lock). The connection comes from the database's current engine
    and is replaced after a storage error or when the engine is swapped.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._engine: sa.Engine | None = None
        self._raw: Any = None
        self._cursor: Any = None
        self._sql = _STATUS_PG
        self._prepare = True
        self._lock = threading.Lock()

    def status(self, msisdn: str) -> str | None:
        """The status of the number's subscriber; None if the number is not ours."""
        with self._lock:
            if self._engine is not self._db.engine:
                self._drop()
            engine = self._engine = self._db.engine
            try:
                cursor = self._cursor or self._connect(engine)
                if self._prepare:  # prepared on the PostgreSQL server after a few uses
                    cursor.execute(self._sql, (msisdn,), prepare=True)
                else:
                    cursor.execute(self._sql, (msisdn,))
                row = cursor.fetchone()
            except Exception as exc:
                self._drop()
                if isinstance(exc, (engine.dialect.loaded_dbapi.Error, *STORAGE_ERRORS)):
                    raise StorageUnavailable("the database is unavailable") from exc
                raise
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _connect(self, engine: sa.Engine) -> Any:
        raw = engine.raw_connection()
        driver: Any = raw.driver_connection
        sqlite = engine.dialect.name == "sqlite"
        if not sqlite:
            driver.autocommit = True
        self._sql, self._prepare = (_STATUS_SQLITE, False) if sqlite else (_STATUS_PG, True)
        self._raw, self._cursor = raw, driver.cursor()
        return self._cursor

    def _drop(self) -> None:
        raw, self._raw, self._cursor = self._raw, None, None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.invalidate()  # closed, not given back to the pool in autocommit mode
