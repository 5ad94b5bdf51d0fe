"""Engine construction. Nothing here runs at import time: ``bootstrap`` calls ``create_engine``.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed payment survives power loss) and
every write transaction starts with ``BEGIN IMMEDIATE``: writers queue on the database lock up
front instead of failing with "database is locked" when a read upgrades to a write.
PostgreSQL runs at READ COMMITTED through psycopg 3; balance updates are guarded in SQL.

Writers of one SQLite file also queue on a "writer gate" held from ``BEGIN IMMEDIATE`` to the
end of the transaction: first an in-process lock (one thread of this process at a time), then an
exclusive ``flock`` on ``<database>.writer-lock`` (one process at a time: several ``abonent
serve`` workers on one file). SQLite's own lock still decides everything; the gate only spares
waiters SQLite's busy handler, which sleeps in steps of milliseconds and made concurrent
one-commit writers several times slower than one. A waiter that does not get the gate within
the busy timeout goes on without it, so the gate adds no failure of its own.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000

_GATES: dict[str, WriterGate] = {}
# Every SQLite engine of ``create_engine``, with its file's writer gate (None: no gate).
_GATED_ENGINES: weakref.WeakKeyDictionary[Engine, WriterGate | None] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


class _ProcessLock:
    """An exclusive ``flock`` on a lock file, shared by the threads of this process.

    Callers are already serialised by the in-process lock, so at most one thread at a time
    acquires or releases it. Uncontended it costs one non-blocking ``flock``. When another
    process holds it, a helper thread waits in a blocking ``flock`` (woken by the kernel the
    moment the lock is free, unlike a polling loop or SQLite's sleeps) while the caller waits
    for the helper with its timeout: a blocking ``flock`` cannot time out. If the caller gives
    up first, the helper drops the lock as soon as it gets it, or hands it to the next caller
    that wants it. Plain locks rather than a Condition: this is on the path of every contended
    write, and each handoff costs a thread wake-up already.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._reset()

    def _reset(self) -> None:
        self._fd: int | None = None
        self._broken = False  # the lock file cannot be used: the in-process lock alone decides
        self._state = threading.Lock()  # guards _wanted, and changes of _pending
        self._pending = False  # the helper was asked to wait for the lock and has not got it
        self._wanted = False  # a caller waits for the helper's result
        self._request = threading.Lock()  # released by a caller: "wait for the lock"
        self._request.acquire()
        self._granted = threading.Lock()  # released by the helper: "you hold it now"
        self._granted.acquire()
        self._helper: threading.Thread | None = None

    def acquire(self, timeout: float) -> bool:
        """Take the lock within ``timeout`` seconds; True also when there is no lock file."""
        fd = self._fd
        if fd is None or self._broken:
            fd = self._descriptor()
            if fd is None:
                return True
        with self._state:
            if not self._pending:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    self._ask_helper()
                except OSError:
                    self._broken = True  # e.g. no locks on this file system
                    return True
            self._wanted = True
        if self._granted.acquire(timeout=timeout):
            return True
        with self._state:
            self._wanted = False
            # The helper may have granted it between our timeout and now.
            return self._granted.acquire(blocking=False) or self._broken

    def try_acquire(self) -> bool:
        """Take the lock if it is free now, without ``_state``; False if not, or when the
        helper is at work, or there is no descriptor yet (``acquire`` then decides). Safe
        unlocked: only callers (one at a time, behind the threads' lock) set ``_pending``, and
        the helper clears it only once it let go of the lock, so no other thread uses the
        descriptor now. This runs for every write."""
        fd = self._fd
        if fd is None or self._pending or self._broken:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False  # another process holds it, or no locks here: ``acquire`` decides

    def release(self) -> None:
        if self._fd is not None and not self._broken:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def after_fork(self) -> None:
        # The child's own descriptor: an inherited one is the parent's lock, not a second one.
        if self._fd is not None:
            os.close(self._fd)
        self._reset()

    def _descriptor(self) -> int | None:
        if self._fd is None and not self._broken:
            try:
                # Read-only is enough for flock, so processes of other users can share the file.
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                self._broken = True
        return None if self._broken else self._fd

    def _ask_helper(self) -> None:
        self._pending = True
        if self._helper is None:
            self._helper = threading.Thread(
                target=self._wait_for_lock, name=f"writer-gate {self._path.name}", daemon=True
            )
            self._helper.start()
        self._request.release()

    def _wait_for_lock(self) -> None:
        fd = self._fd
        assert fd is not None
        while True:
            self._request.acquire()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                with self._state:
                    self._broken = True
                    self._granted.release()  # wakes a waiting caller: it goes on without
                return
            with self._state:
                if self._wanted:
                    self._wanted = False
                    self._granted.release()
                else:
                    fcntl.flock(fd, fcntl.LOCK_UN)  # its caller gave up meanwhile
                self._pending = False  # only now: ``try_acquire`` reads it without ``_state``


class WriterGate:
    """The writer gate of one SQLite file: this process's threads, then the processes."""

    def __init__(self, database: Path) -> None:
        self._threads = threading.Lock()
        self._processes = _ProcessLock(database.with_name(database.name + ".writer-lock"))

    def acquire(self, timeout: float) -> bool:
        threads = self._threads
        if threads.acquire(blocking=False):  # the usual case: no clock read needed
            if self._processes.try_acquire():
                return True
            remaining = timeout
        else:
            deadline = time.monotonic() + timeout
            if not threads.acquire(timeout=timeout):
                return False
            remaining = max(0.0, deadline - time.monotonic())
        if self._processes.acquire(remaining):
            return True
        threads.release()
        return False

    def release(self) -> None:
        try:
            self._processes.release()
        finally:
            self._threads.release()

    def after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held forever in the child.
        self._threads = threading.Lock()
        self._processes.after_fork()


def _writer_gate(database: str) -> WriterGate:
    """The one writer gate of a SQLite file in this process (shared by all its engines)."""
    path = Path(database).resolve()
    with _GATES_LOCK:
        gate = _GATES.get(str(path))
        if gate is None:
            gate = _GATES[str(path)] = WriterGate(path)
        return gate


def _after_fork_in_child() -> None:
    # The module lock may have been held by another thread at fork time.
    global _GATES_LOCK
    _GATES_LOCK = threading.Lock()
    for gate in _GATES.values():
        gate.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its writer gate back when its transaction ends.

    Unless ``pinned``: then whoever pinned it (the unit of work lending the process's writer
    connection, see ``db.uow``) gives the gate back after it let go of the connection, because
    the next holder of the gate takes the same connection.
    """

    gate: WriterGate | None = None
    holding = False
    pinned = False

    def hold_gate(self) -> None:
        # A thread that waits longer than the busy timeout goes on without the gate, so the gate
        # can add no failure of its own: SQLite's lock and busy timeout decide as before.
        if self.gate is not None and not self.holding:
            self.holding = self.gate.acquire(SQLITE_BUSY_TIMEOUT_MS / 1000)

    def release_gate(self) -> None:
        if self.holding and self.gate is not None:
            self.holding = False
            self.gate.release()

    def begin(self, mode: str, *, gated: bool = True) -> None:
        """``BEGIN <mode>`` (DEFERRED, IMMEDIATE or EXCLUSIVE), through the writer gate unless
        DEFERRED or not ``gated``; the gate is given back if BEGIN fails. Raises
        ``sqlite3.Error``."""
        if mode != "DEFERRED" and gated:
            self.hold_gate()
        try:
            self.execute(f"BEGIN {mode}")
        except BaseException:
            self._transaction_ended()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._transaction_ended()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._transaction_ended()

    def _transaction_ended(self) -> None:
        if not self.pinned:
            self.release_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_gate()


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, echo=echo)
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return sa.create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True
    )


def _create_sqlite_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    database = parsed.database
    gate = None
    # URI file names ("file:...?mode=...") are SQLite's to interpret: no directory made for
    # them, no gate (SQLite alone decides). Plain file names get both.
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        gate = _writer_gate(database)
    engine = sa.create_engine(
        url,
        echo=echo,
        connect_args={
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            "check_same_thread": False,
            "factory": GatedConnection,
        },
        pool_size=8,
        max_overflow=32,
        # The most recently used connection first: its page cache is the warmest.
        pool_use_lifo=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        dbapi_connection.gate = gate
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        driver = connection.connection.driver_connection
        assert isinstance(driver, GatedConnection)  # the factory above made it
        if driver.in_transaction:
            return  # a unit of work began it at the driver (``db.uow``); SQLAlchemy catches up
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        try:
            # Straight to the driver: going through SQLAlchemy's statement execution cost more
            # than the BEGIN itself.
            driver.begin(mode)
        except sqlite3.Error as error:
            raise sa.exc.DBAPIError.instance(
                f"BEGIN {mode}", None, error, sqlite3.Error, dialect=connection.dialect
            ) from error

    _GATED_ENGINES[engine] = gate
    return engine


def is_gated(engine: Engine) -> bool:
    """Whether ``engine`` is a SQLite engine of ``create_engine``: its connections are
    ``GatedConnection`` and its transactions may be begun at the driver."""
    return engine in _GATED_ENGINES


def writer_gate_of(engine: Engine) -> WriterGate | None:
    """The writer gate of a gated engine's file; None for other engines and for in-memory or
    URI databases (no gate)."""
    return _GATED_ENGINES.get(engine)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
