"""Bulk INSERTs and reads straight on the driver, for group commits' hot paths.

SQLAlchemy's per-statement compilation and per-value bind processing were most of the CPU of a
group commit (agents' pays, receipts, top-up hooks). These helpers keep SQLAlchemy's types
(the columns' own bind and result processors) and its error wrapping, but send fixed statement
texts to the driver: SQLite a multi-row VALUES, PostgreSQL whole columns as arrays.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

# Bound parameters of one SQLite statement: it allows 32,766.
_MAX_SQLITE_PARAMS = 30_000


@dataclass(frozen=True, slots=True)
class _InsertShape:
    """What inserting rows with these columns into a table needs, worked out once per
    dialect: each column's bind processor (UTC datetimes, JSON, as SQLAlchemy would apply
    them) and the statement's parts."""

    table: str
    columns: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    row: str  # SQLite: the placeholders of one row
    arrays: str  # PostgreSQL: one typed array placeholder per column
    postgresql: bool


# Keyed by dialect too (an engine's own): bounded, as tests make many engines.
@lru_cache(maxsize=256)
def _shape(table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect) -> _InsertShape:
    postgresql = dialect.name == "postgresql"
    types = [table.c[name].type.dialect_impl(dialect) for name in columns]
    return _InsertShape(
        table=table.name,
        columns=columns,
        processors=tuple(t.bind_processor(dialect) for t in types),
        row="(" + ", ".join(["?"] * len(columns)) + ")",
        # Binary arrays (%b): psycopg's text format quotes every value in Python.
        arrays=", ".join(f"%b::{_pg_array_type(t)}" for t in types) if postgresql else "",
        postgresql=postgresql,
    )


def _pg_array_type(column_type: sa.types.TypeEngine[Any]) -> str:
    while isinstance(column_type, sa.TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.JSON):
        return "json[]"
    if isinstance(column_type, sa.DateTime):
        return "timestamptz[]" if column_type.timezone else "timestamp[]"
    if isinstance(column_type, sa.Integer):
        return "bigint[]"
    if isinstance(column_type, sa.Boolean):
        return "boolean[]"
    if isinstance(column_type, sa.String):
        return "text[]"
    raise TypeError(f"no array type for {column_type!r}")


@lru_cache(maxsize=1024)
def _insert_sql(shape: _InsertShape, rows: int, returning: tuple[str, ...]) -> str:
    """SQLite: multi-row VALUES, one text per row count. PostgreSQL: whole columns as
    arrays, one text whatever the count (parsed and prepared once)."""
    # Table and column names from the schema, placeholders: no data in the text.
    columns = ", ".join(shape.columns)
    if shape.postgresql:
        source = f"SELECT * FROM unnest({shape.arrays})"  # noqa: S608
    else:
        source = "VALUES " + ", ".join([shape.row] * rows)
    sql = f"INSERT INTO {shape.table} ({columns}) {source}"
    return sql + (f" RETURNING {', '.join(returning)}" if returning else "")


def insert_rows(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, object]],
    *,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (every row with the same keys) with one statement (SQLite: one per
    thousand or so rows), for a group commit's hot path, where SQLAlchemy's per-statement
    compilation and per-value bind processing were most of the CPU.

    The values still go through the columns' own bind processors (a value repeated from the
    row before, like a batch's one ``now``, is processed once). SQLite gets a multi-row
    VALUES, PostgreSQL the columns as arrays (inside ``deferred_inserts`` and without
    ``returning``: at the end of that block); inside a transaction the statement goes
    straight to the driver, errors wrapped as SQLAlchemy wraps them (a repeated key is still
    ``IntegrityError``). Returns the ``returning`` columns of the inserted rows, in no
    particular order.
    """
    if not rows:
        return []
    shape = _shape(table, tuple(rows[0]), connection.dialect)
    columns = _bound_columns(shape, rows)
    if shape.postgresql:
        sql = _insert_sql(shape, 0, returning)
        deferred = None if returning else connection.info.get(_DEFERRED)
        if isinstance(deferred, list):
            deferred.append((sql, tuple(columns)))
            return []
        result = run_on_driver(connection, sql, columns)
        return [tuple(row) for row in result.fetchall()] if returning else []
    per_statement = max(1, _MAX_SQLITE_PARAMS // len(shape.columns))
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_statement):
        chunk = [column[start : start + per_statement] for column in columns]
        params = [value for row in zip(*chunk, strict=True) for value in row]
        result = run_on_driver(connection, _insert_sql(shape, len(chunk[0]), returning), params)
        if returning:
            found += [tuple(row) for row in result.fetchall()]
    return found


@contextmanager
def deferred_inserts(connection: sa.Connection) -> Iterator[None]:
    """On PostgreSQL, ``insert_rows`` without ``returning`` inside this block only queues its
    statement; when the block ends without an error the queue goes out in one pipeline: one
    round trip for all of them, not one each. Its errors are raised then, wrapped as
    SQLAlchemy wraps them. For rows that nothing in the block reads back (a group commit's
    receipts, SMS, audit and agent rows). On SQLite (no round trips) and in a block already
    deferring, nothing changes.
    """
    if connection.dialect.name != "postgresql" or _DEFERRED in connection.info:
        yield
        return
    queued: list[tuple[str, tuple[Any, ...]]] = []
    connection.info[_DEFERRED] = queued
    try:
        yield
    finally:
        del connection.info[_DEFERRED]
    _send_pipelined(connection, queued)


_DEFERRED = "abonent.deferred_inserts"


def _send_pipelined(
    connection: sa.Connection, statements: list[tuple[str, tuple[Any, ...]]]
) -> None:
    if not statements:
        return
    driver: Any = connection.connection.driver_connection
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        with driver.pipeline():
            for sql, params in statements:
                driver.execute(sql, params)
    except dbapi_error as exc:
        raise sa_exc.DBAPIError.instance(
            statements[0][0], None, exc, dbapi_error, dialect=connection.dialect
        ) from exc


def _bound_columns(shape: _InsertShape, rows: Sequence[Mapping[str, object]]) -> list[list[Any]]:
    """The rows' values column by column, bind-processed."""
    columns: list[list[Any]] = []
    for name, process in zip(shape.columns, shape.processors, strict=True):
        values = [row[name] for row in rows]
        columns.append(values if process is None else _processed(values, process))
    return columns


def _processed(values: list[Any], process: Callable[[Any], Any]) -> list[Any]:
    out: list[Any] = []
    last_in: object = _NOTHING
    last_out: object = None
    for value in values:
        if value is not last_in:
            last_in, last_out = value, process(value)
        out.append(last_out)
    return out


_NOTHING = object()
_PG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction begun on the server yet


def run_on_driver(connection: sa.Connection, sql: str, params: Sequence[Any]) -> Any:
    """``sql`` straight on the driver's connection when a transaction is under way (SQLite:
    its write lock is ours; SQLAlchemy's statement machinery cost more than the statements),
    errors wrapped as SQLAlchemy wraps them; otherwise through ``exec_driver_sql``."""
    driver: Any = connection.connection.driver_connection
    if isinstance(driver, sqlite3.Connection):
        direct = driver.in_transaction
    else:
        direct = connection.in_transaction()
    if not direct:
        return connection.exec_driver_sql(sql, tuple(params))
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        if isinstance(driver, sqlite3.Connection) or driver.info.transaction_status != _PG_IDLE:
            return driver.execute(sql, params)
        # psycopg has yet to send the transaction's BEGIN: one round trip for both.
        with driver.pipeline():
            cursor = driver.execute(sql, params)
        return cursor
    except dbapi_error as exc:
        raise sa_exc.DBAPIError.instance(
            sql, None, exc, dbapi_error, dialect=connection.dialect
        ) from exc


def run_many_on_driver(connection: sa.Connection, sql: str, rows: Sequence[Any]) -> None:
    """SQLite only: ``sql`` once for each parameter row (``executemany``), straight on the
    driver inside a transaction (else through ``exec_driver_sql``), errors wrapped as
    SQLAlchemy wraps them."""
    driver: Any = connection.connection.driver_connection
    if not (isinstance(driver, sqlite3.Connection) and driver.in_transaction):
        connection.exec_driver_sql(sql, list(rows))
        return
    try:
        driver.executemany(sql, rows)
    except sqlite3.Error as exc:
        raise sa_exc.DBAPIError.instance(
            sql, None, exc, sqlite3.Error, dialect=connection.dialect
        ) from exc


@lru_cache(maxsize=256)
def _result_processors(
    table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect
) -> tuple[Callable[[Any], Any] | None, ...]:
    return tuple(
        table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) for name in columns
    )


def read_rows(
    connection: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    sql: str,
    params: tuple[Any, ...],
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (which selects ``columns`` of ``table``, in that order), their values
    through the columns' own result processors (UTC datetimes), run as ``insert_rows`` runs
    its statements: inside a transaction straight on the driver."""
    processors = _result_processors(table, columns, connection.dialect)
    rows = run_on_driver(connection, sql, params).fetchall()
    if not any(processors):
        return [tuple(row) for row in rows]
    return [
        tuple(
            value if process is None else process(value)
            for value, process in zip(row, processors, strict=True)
        )
        for row in rows
    ]
