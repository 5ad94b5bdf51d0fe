"""Unit of work: one database transaction that rolls back unless ``commit()`` is called.

Services open it, do all their reads and writes through repositories bound to its connection,
and commit once. Storage failures (database down, locked too long, connection lost) leave as
``StorageUnavailable`` so every adapter can answer "retry later" instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from abonent.core.clock import Clock
from abonent.core.errors import StorageUnavailable

if TYPE_CHECKING:
    from abonent.audit.repository import SqlAuditLog
    from abonent.ledger.repository import SqlLedgerRepository
    from abonent.outbox.repository import SqlOutbox
    from abonent.subscribers.repository import SqlSubscriberRepository

T = TypeVar("T")

# Errors that mean "the storage did not answer", not "your request is wrong".
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


class UnitOfWork:
    def __init__(self, engine: Engine, clock: Clock, *, read_only: bool = False) -> None:
        self._engine = engine
        self.clock = clock
        self._read_only = read_only
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        try:
            conn = self._engine.connect()
            if self._read_only and conn.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            self.connection = conn
            self._transaction = conn.begin()
        except STORAGE_ERRORS as exc:
            raise StorageUnavailable("the database is unavailable; try again later") from exc
        return self

    def commit(self) -> None:
        try:
            self._transaction.commit()
        except STORAGE_ERRORS as exc:
            raise StorageUnavailable("the database did not confirm; try again later") from exc
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._transaction.is_active:
                self._transaction.rollback()
        except STORAGE_ERRORS:
            pass  # the connection is gone; the database rolls back on its own
        finally:
            self.connection.close()
        if exc is not None and isinstance(exc, STORAGE_ERRORS):
            raise StorageUnavailable("the database is unavailable; try again later") from exc

    def execute(self, statement: sa.Executable) -> sa.CursorResult[object]:
        return self.connection.execute(statement)

    @cached_property
    def ledger(self) -> SqlLedgerRepository:
        from abonent.ledger.repository import SqlLedgerRepository

        return SqlLedgerRepository(self.connection)

    @cached_property
    def subscribers(self) -> SqlSubscriberRepository:
        from abonent.subscribers.repository import SqlSubscriberRepository

        return SqlSubscriberRepository(self.connection)

    @cached_property
    def audit(self) -> SqlAuditLog:
        from abonent.audit.repository import SqlAuditLog

        return SqlAuditLog(self.connection)

    @cached_property
    def outbox(self) -> SqlOutbox:
        from abonent.outbox.repository import SqlOutbox

        return SqlOutbox(self.connection)


@dataclass
class Database:
    """The engine plus a clock; the factory of units of work."""

    engine: Engine
    clock: Clock

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, self.clock, read_only=read_only)

    @contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        with self.uow(read_only=True) as uow:
            yield uow

    def run_once(
        self,
        work: Callable[[UnitOfWork], T],
        replay: Callable[[UnitOfWork], T | None],
        *,
        replay_first: bool = True,
    ) -> T:
        """Run ``work`` exactly once per idempotency key.

        ``replay`` looks up the stored result of an earlier identical request (by its key).
        It is tried first; if a concurrent twin wins the race for the unique key, our insert fails
        with an IntegrityError, everything we did is rolled back, and ``replay`` answers instead.
        The database's unique index settles the race, never an in-memory check.

        ``replay_first=False`` skips the first lookup: only for ``work`` whose first write is the
        insert under the unique key and which checks nothing before it, so a repeat fails there
        and is answered by ``replay`` after the rollback, exactly as above. A new request (the
        common case) then costs one query less (``ledger.post`` uses this).
        """
        try:
            with self.uow() as uow:
                if replay_first:
                    earlier = replay(uow)
                    if earlier is not None:
                        return earlier
                result = work(uow)
                uow.commit()
                return result
        except sa_exc.IntegrityError:
            with self.uow(read_only=True) as uow:
                earlier = replay(uow)
            if earlier is None:
                raise
            return earlier

    def dispose(self) -> None:
        self.engine.dispose()
