"""Engine construction. Nothing here runs at import time: ``bootstrap`` calls ``create_engine``.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed payment survives power loss) and
every write transaction starts with ``BEGIN IMMEDIATE``: writers queue on the database lock up
front instead of failing with "database is locked" when a read upgrades to a write.
PostgreSQL runs at READ COMMITTED through psycopg 3; balance updates are guarded in SQL.

Writers of one SQLite file inside one process also queue on an in-process lock (the "writer
gate") held from ``BEGIN IMMEDIATE`` to the end of the transaction. SQLite's own lock still
decides everything; the gate only spares waiting threads SQLite's busy handler, which sleeps
in steps of milliseconds and made concurrent one-commit writers several times slower than one.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000

_GATES: dict[str, threading.Lock] = {}
_GATES_LOCK = threading.Lock()


def _writer_gate(database: str) -> threading.Lock:
    """The one writer gate of a SQLite file in this process (shared by all its engines)."""
    key = str(Path(database).resolve())
    with _GATES_LOCK:
        return _GATES.setdefault(key, threading.Lock())


class _GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its writer gate back when its transaction ends."""

    gate: threading.Lock | None = None
    holding = False

    def hold_gate(self) -> None:
        # A thread that waits longer than the busy timeout goes on without the gate, so the gate
        # can add no failure of its own: SQLite's lock and busy timeout decide as before.
        if self.gate is not None and not self.holding:
            self.holding = self.gate.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def release_gate(self) -> None:
        if self.holding and self.gate is not None:
            self.holding = False
            self.gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
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
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        if not database.startswith("file:"):  # URI file names: no gate, SQLite alone decides
            gate = _writer_gate(database)
    engine = sa.create_engine(
        url,
        echo=echo,
        connect_args={
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            "check_same_thread": False,
            "factory": _GatedConnection,
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
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        driver = connection.connection.driver_connection
        assert driver is not None  # a checked-out connection always has its driver connection
        gated = driver if isinstance(driver, _GatedConnection) and mode != "DEFERRED" else None
        if gated is not None:
            gated.hold_gate()
        try:
            # Straight to the driver: this runs before every write transaction, and going
            # through SQLAlchemy's statement execution cost more than the BEGIN itself.
            driver.execute(f"BEGIN {mode}")
        except sqlite3.Error as error:
            if gated is not None:
                gated.release_gate()
            raise sa.exc.DBAPIError.instance(
                f"BEGIN {mode}", None, error, sqlite3.Error, dialect=connection.dialect
            ) from error
        except BaseException:
            if gated is not None:
                gated.release_gate()
            raise

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
