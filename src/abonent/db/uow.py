"""Unit of work: one database transaction that rolls back unless ``commit()`` is called.

Services open it, do all their reads and writes through repositories bound to its connection,
and commit once. Storage failures (database down, locked too long, connection lost) leave as
``StorageUnavailable`` so every adapter can answer "retry later" instead of a traceback.

On SQLite a unit of work is the hot path of every request, so it is leaner there (measured: the
pool checkout, SQLAlchemy's begin and the pool's check-in cost ~30 µs of CPU against ~3 µs for
BEGIN and COMMIT themselves): each of a few threads keeps one pooled connection between its
units of work, and the unit of work issues BEGIN and COMMIT/ROLLBACK on the sqlite3 connection
itself. ``uow.connection`` is still a SQLAlchemy connection on that same sqlite3 connection:
its first statement joins the open transaction (see ``db.engine``), so repositories see no
difference except that ``connection.in_transaction()`` is False until SQLAlchemy ran something.

Writing units of work of all threads share one connection per engine instead, lent to whoever
holds the file's writer gate (``db.engine``). SQLite drops a connection's whole page cache when
it begins a transaction after another connection wrote: with a connection per thread, every
write of eight threads taking turns began cold and read its pages again (≈ 10 reads a ledger
transfer, measured with strace); the one writer connection finds them in its cache.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from abonent.core.clock import Clock
from abonent.core.errors import StorageUnavailable
from abonent.db.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    GatedConnection,
    WriterGate,
    is_gated,
    writer_gate_of,
)

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

_EXIT_ERRORS: tuple[type[BaseException], ...] = (*STORAGE_ERRORS, sqlite3.Error)
# The plain sqlite3 commit, for a connection whose gate its unit of work gives back itself.
_sqlite_commit = sqlite3.Connection.commit

_SHARED: weakref.WeakKeyDictionary[Engine, ThreadConnections] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


class _Kept:
    """The connection one thread keeps between its units of work, with what its units of work
    would otherwise look up or build again each time: its sqlite3 connection (four calls into
    SQLAlchemy away) and its ledger repository (bound to the connection, holding no state of a
    unit of work)."""

    __slots__ = ("__weakref__", "busy", "connection", "cursor", "driver", "generation", "ledger")

    def __init__(self, generation: int) -> None:
        self.connection: sa.Connection | None = None
        self.driver: GatedConnection | None = None
        self.cursor: sqlite3.Cursor | None = None  # of ``driver``, for BEGIN
        self.ledger: SqlLedgerRepository | None = None
        self.busy = False
        self.generation = generation

    def forget(self) -> None:
        self.connection = self.driver = self.cursor = self.ledger = None


class ThreadConnections:
    """SQLite: one pooled connection kept by each of up to ``LIMIT`` threads, so a unit of work
    skips the pool's checkout and check-in (with its reset). One per engine (``of``), shared by
    every ``Database`` on it. A thread's connection goes back to the pool when the thread ends
    (its ``_Kept`` is garbage) or at ``close_all`` (``Database.dispose`` and
    ``Engine.dispose``). A nested unit of work in the same thread, and threads past the limit,
    use the pool as before; the limit keeps most of the pool (8 + 32 connections) for them.
    """

    LIMIT = 16

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)  # the engine's own registry holds this object
        self._local = threading.local()
        self._all: weakref.WeakSet[_Kept] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.generation = 0
        self.gate = writer_gate_of(engine)
        # The writer connection, lent only to the holder of ``gate``: the gate serialises it.
        self._writer = _Kept(self.generation)

    @classmethod
    def of(cls, engine: Engine) -> ThreadConnections | None:
        """The engine's kept connections; None unless ``create_engine`` made it for SQLite."""
        if not is_gated(engine):
            return None
        with _SHARED_LOCK:
            found = _SHARED.get(engine)
            if found is None:
                found = _SHARED[engine] = cls(engine)
                event.listen(engine, "engine_disposed", found.close_all_of)
            return found

    @property
    def engine(self) -> Engine:
        engine = self._engine()
        if engine is None:
            raise sa_exc.InvalidRequestError("the engine of these connections is gone")
        return engine

    def checkout(self) -> tuple[sa.Connection, _Kept | None]:
        kept: _Kept | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._adopt()
        if kept is None or kept.busy:
            return self.engine.connect(), None
        return self._lend(kept), kept

    def checkout_writer(self) -> tuple[sa.Connection, _Kept] | None:
        """The writer connection, for the thread that holds ``gate``; None if it is lent out
        already (a unit of work that went on without the gate after waiting too long)."""
        if self._writer.busy:
            return None
        return self._lend(self._writer), self._writer

    def _lend(self, kept: _Kept) -> sa.Connection:
        connection = kept.connection
        if connection is None or connection.invalidated or kept.generation != self.generation:
            if connection is not None:
                kept.forget()
                connection.close()
            connection = self.engine.connect()
            driver = connection.connection.driver_connection
            assert isinstance(driver, GatedConnection)  # ``of`` checked the engine
            kept.connection, kept.driver, kept.ledger = connection, driver, None
            kept.cursor = driver.cursor()
            kept.generation = self.generation
        kept.busy = True
        return connection

    def checkin(self, connection: sa.Connection, kept: _Kept | None, *, broken: bool) -> None:
        if kept is None:
            connection.close()
            return
        kept.busy = False
        if kept.generation != self.generation:
            connection.invalidate()  # closed by ``close_all`` meanwhile: the pool may be gone
        if broken or connection.invalidated:
            kept.forget()
            connection.close()

    def close_all(self) -> None:
        """Close every kept connection (busy ones when their work ends)."""
        with self._lock:
            self.generation += 1
            for kept in [*self._all, self._writer]:
                if not kept.busy and kept.connection is not None:
                    # Closed for good, not returned: the pool may be the disposed one.
                    kept.connection.invalidate()
                    kept.connection.close()
                    kept.forget()

    def close_all_of(self, _engine: Engine) -> None:
        self.close_all()

    def _adopt(self) -> _Kept | None:
        with self._lock:
            if len(self._all) >= self.LIMIT:
                return None
            kept = _Kept(self.generation)
            self._all.add(kept)
        self._local.kept = kept
        return kept


class UnitOfWork:
    # What ``__enter__`` sets where it applies. Class defaults spare ``__init__``, which runs for
    # every request, the stores.
    _committed = False
    _kept: _Kept | None = None
    _driver: GatedConnection | None = None
    # SQLite: the writer gate this unit of work holds with the writer connection; given back at
    # ``__exit__``, after the connection.
    _gate: WriterGate | None = None

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        read_only: bool = False,
        connections: ThreadConnections | None = None,
    ) -> None:
        self._engine = engine
        self.clock = clock
        self._read_only = read_only
        self._connections = connections

    def __enter__(self) -> UnitOfWork:
        connections = self._connections
        if connections is not None:
            gate = connections.gate
            if gate is not None and not self._read_only:
                return self._enter_writer(connections, gate)
            return self._enter_sqlite(connections)
        try:
            conn = self._engine.connect()
            if self._read_only and conn.dialect.name == "sqlite":
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            self.connection = conn
            self._transaction: sa.RootTransaction | None = conn.begin()
        except STORAGE_ERRORS as exc:
            raise StorageUnavailable("the database is unavailable; try again later") from exc
        return self

    def _enter_writer(self, connections: ThreadConnections, gate: WriterGate) -> UnitOfWork:
        """Take the writer gate, then the writer connection it guards, and begin on it."""
        if not gate.acquire(SQLITE_BUSY_TIMEOUT_MS / 1000):
            # Waited the whole busy timeout: on without the gate, as ``GatedConnection`` does;
            # SQLite's own lock and busy timeout decide.
            return self._enter_sqlite(connections, gated=False)
        try:
            lent = connections.checkout_writer()
        except BaseException as exc:
            gate.release()
            if isinstance(exc, STORAGE_ERRORS):
                raise StorageUnavailable("the database is unavailable; try again later") from exc
            raise
        if lent is not None:
            return self._begin_sqlite(connections, *lent, gate=gate)
        gate.release()  # lent out: on with this thread's connection, through the gate
        return self._enter_sqlite(connections)

    def _enter_sqlite(
        self, connections: ThreadConnections, *, gated: bool | None = None
    ) -> UnitOfWork:
        """This thread's kept connection (or a pooled one), through the gate unless reading or
        ``gated`` is False."""
        try:
            conn, kept = connections.checkout()
        except STORAGE_ERRORS as exc:  # no connection to be had
            raise StorageUnavailable("the database is unavailable; try again later") from exc
        return self._begin_sqlite(connections, conn, kept, gated=gated)

    def _begin_sqlite(
        self,
        connections: ThreadConnections,
        conn: sa.Connection,
        kept: _Kept | None,
        *,
        gated: bool | None = None,
        gate: WriterGate | None = None,
    ) -> UnitOfWork:
        """BEGIN on ``conn``. ``gate``: the writer gate, held by this thread for the writer
        connection ``conn`` (pinned until ``__exit__`` gives the gate back). Otherwise
        ``gated``: False to begin without the gate, None to let the connection take it (unless
        reading)."""
        self._kept = kept
        driver = None
        try:
            driver = kept.driver if kept is not None else None
            if driver is None:
                driver = conn.connection.driver_connection
            assert isinstance(driver, GatedConnection)  # ``Database`` checked the engine
            if gate is not None:
                driver.holding = driver.pinned = True
                self._gate = gate
            if driver.in_transaction:
                driver.rollback()  # left open by a failure nobody saw: never join it
            if gate is not None:
                # The gate is ours and stays ours until ``__exit__``: nothing to take or give.
                cursor = kept.cursor if kept is not None else None
                (cursor or driver).execute("BEGIN IMMEDIATE")
            else:
                mode = "DEFERRED" if self._read_only else "IMMEDIATE"
                driver.begin(mode, gated=gated is None)
        except BaseException as exc:
            taken_over = self._gate is not None
            self._give_back(connections, conn, driver, broken=True)  # gives a taken-over gate back
            if gate is not None and not taken_over:
                gate.release()  # failed before this unit of work took the gate over
            if isinstance(exc, sqlite3.Error):
                raise _storage_error(exc, conn) from exc
            if isinstance(exc, STORAGE_ERRORS):
                raise StorageUnavailable("the database is unavailable; try again later") from exc
            raise
        self.connection, self._driver, self._transaction = conn, driver, None
        return self

    def _give_back(
        self,
        connections: ThreadConnections,
        conn: sa.Connection,
        driver: GatedConnection | None,
        *,
        broken: bool,
    ) -> None:
        """Return the connection, then the writer gate: once the gate is free, another thread
        may take the writer connection, so nothing here touches it after that."""
        held = self._gate is not None
        self._gate = None
        if driver is not None:
            driver.pinned = False
        try:
            connections.checkin(conn, self._kept, broken=broken)
        finally:
            if held and driver is not None:
                # Unless closing it gave the gate back already (its rollback at the pool).
                driver.release_gate()

    def commit(self) -> None:
        driver = self._driver
        try:
            if driver is None:
                assert self._transaction is not None
                self._transaction.commit()
            elif self.connection.in_transaction():
                self.connection.commit()
            elif driver.pinned:  # the gate is given back at ``__exit__``
                cursor = self._kept.cursor if self._kept is not None else None
                if cursor is None:
                    _sqlite_commit(driver)
                elif driver.in_transaction:
                    # What ``sqlite3.Connection.commit`` does, but from the statement cache:
                    # it compiles COMMIT anew every time (≈ 1 µs).
                    cursor.execute("COMMIT")
            else:
                driver.commit()
        except STORAGE_ERRORS as exc:
            raise StorageUnavailable("the database did not confirm; try again later") from exc
        except sqlite3.Error as exc:
            raise _storage_error(exc, self.connection) from exc
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        driver = self._driver
        if driver is not None:
            kept, connections = self._kept, self._connections
            if (
                self._committed
                and kept is not None
                and connections is not None
                and kept.generation == connections.generation
                and not driver.in_transaction
            ):
                # The usual end, ``_exit_sqlite`` written out: committed, nothing begun since
                # (SQLAlchemy's transaction ended too), the connection still current.
                kept.busy = False
                if self._gate is not None:  # the writer connection, pinned to its gate
                    self._gate = None
                    driver.pinned = False
                if not driver.pinned:
                    driver.release_gate()
            else:
                self._exit_sqlite(driver)
        else:
            try:
                if not self._committed and self._transaction and self._transaction.is_active:
                    self._transaction.rollback()
            except STORAGE_ERRORS:
                pass  # the connection is gone; the database rolls back on its own
            finally:
                self.connection.close()
        if exc is not None and isinstance(exc, STORAGE_ERRORS):
            raise StorageUnavailable("the database is unavailable; try again later") from exc

    def _exit_sqlite(self, driver: GatedConnection) -> None:
        assert self._connections is not None
        broken = False
        try:
            if self._committed and not driver.in_transaction:
                pass  # committed, and nothing begun since: SQLAlchemy's transaction ended too
            elif self.connection.in_transaction():
                if not self._committed:
                    self.connection.rollback()
            elif driver.in_transaction:
                driver.rollback()
        except _EXIT_ERRORS:
            broken = True  # the connection is gone; the database rolls back on its own
        finally:
            if driver.in_transaction:
                broken = True  # still open after a failed commit or rollback: not reused
            if not driver.pinned:
                driver.release_gate()
            self._give_back(self._connections, self.connection, driver, broken=broken)

    def execute(self, statement: sa.Executable) -> sa.CursorResult[object]:
        return self.connection.execute(statement)

    @property
    def ledger(self) -> SqlLedgerRepository:
        kept = self._kept
        if kept is None:
            return self._own_ledger
        repository = kept.ledger  # the kept connection's, made on its first use
        if repository is None:
            repository = kept.ledger = self._own_ledger
        return repository

    @cached_property
    def _own_ledger(self) -> SqlLedgerRepository:
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


def _storage_error(exc: sqlite3.Error, conn: sa.Connection) -> BaseException:
    """A driver error as SQLAlchemy would have raised it, or ``StorageUnavailable``."""
    wrapped = sa_exc.DBAPIError.instance(None, None, exc, sqlite3.Error, dialect=conn.dialect)
    if isinstance(wrapped, STORAGE_ERRORS):
        return StorageUnavailable("the database is unavailable; try again later")
    return wrapped


@dataclass
class Database:
    """The engine plus a clock; the factory of units of work."""

    engine: Engine
    clock: Clock
    _connections: ThreadConnections | None = field(
        init=False, default=None, repr=False, compare=False
    )
    _connections_of: Engine | None = field(init=False, default=None, repr=False, compare=False)

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        if self._connections_of is not self.engine:
            # First use, or the engine was replaced (tests swap in a dead one).
            self._connections = ThreadConnections.of(self.engine)
            self._connections_of = self.engine
        return UnitOfWork(
            self.engine, self.clock, read_only=read_only, connections=self._connections
        )

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
        if self._connections is not None:
            self._connections.close_all()
        self.engine.dispose()
