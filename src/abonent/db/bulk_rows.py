"""Bulk INSERTs and reads straight on the driver, for group commits' hot paths.

SQLAlchemy's per-statement compilation and per-value bind processing were most of the CPU of a
group commit (agents' pays, receipts, top-up hooks). These helpers keep SQLAlchemy's types
(the columns' own bind and result processors) and its error wrapping, but send fixed statement
texts to the driver: SQLite a multi-row VALUES, PostgreSQL whole columns as arrays.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from abonent.db.types import UtcDateTime

# Bound parameters of one SQLite statement: it allows 32,766.
_MAX_SQLITE_PARAMS = 30_000


# eq=False: hashed by identity (each is made once, cached), not field by field in Python on
# every ``_insert_sql`` lookup.
@dataclass(frozen=True, slots=True, eq=False)
class _InsertShape:
    """What inserting rows with these columns into a table needs, worked out once per
    dialect: each column's bind processor (UTC datetimes, JSON, as SQLAlchemy would apply
    them) and the statement's parts."""

    table: str
    columns: tuple[str, ...]  # the rows' own columns, then the shared ones
    processors: tuple[Callable[[Any], Any] | None, ...]
    shared: int  # how many of the columns (the last ones) have one value for every row
    arrays: str  # PostgreSQL: one typed array placeholder per column
    postgresql: bool

    @property
    def own(self) -> int:
        return len(self.columns) - self.shared


# Keyed by dialect too (an engine's own): bounded, as tests make many engines.
@lru_cache(maxsize=256)
def _shape(
    table: sa.Table, columns: tuple[str, ...], shared: tuple[str, ...], dialect: sa.Dialect
) -> _InsertShape:
    postgresql = dialect.name == "postgresql"
    every = columns + shared
    types = [table.c[name].type.dialect_impl(dialect) for name in every]
    return _InsertShape(
        table=table.name,
        columns=every,
        processors=tuple(_bind_processor(t, dialect) for t in types),
        shared=len(shared),
        # Binary arrays (%b): psycopg's text format quotes every value in Python.
        arrays=", ".join(f"%b::{_pg_array_type(t)}" for t in types) if postgresql else "",
        postgresql=postgresql,
    )


Processor = Callable[[Any], Any]


def _bind_processor(column_type: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Processor | None:
    """The column's bind processor, or on SQLite a faster one giving the same text for the
    values a group commit sends (UTC datetimes, JSON objects), the column's own for any other.
    Each fast one is checked against the column's own on sample values first."""
    process = column_type.bind_processor(dialect)
    if process is None or dialect.name != "sqlite":
        return process
    if isinstance(column_type, UtcDateTime):
        return _checked(_utc_to_text(process), process, _DATETIME_SAMPLES)
    if isinstance(column_type, sa.JSON) and _JSON_ENCODE is not None:
        return _checked(_json_to_text(process, _JSON_ENCODE), process, _JSON_SAMPLES)
    return process


def _result_processor(
    column_type: sa.types.TypeEngine[Any], dialect: sa.Dialect
) -> Processor | None:
    """``_bind_processor``'s counterpart for reading: SQLite's UTC datetime text parsed in one
    call (``fromisoformat`` with the offset, not a parse and then a ``replace``)."""
    process = column_type.result_processor(dialect, None)
    if process is None or dialect.name != "sqlite" or not isinstance(column_type, UtcDateTime):
        return process
    to_text = column_type.bind_processor(dialect)
    if to_text is None:
        return process
    samples = [to_text(d) for d in _DATETIME_SAMPLES]
    return _checked(_utc_from_text(process), process, [*samples, None])


def _checked(fast: Processor, own: Processor, samples: Sequence[Any]) -> Processor:
    """``fast`` if it gives what ``own`` gives on every sample (same type and value), else
    ``own``: a column type configured otherwise keeps SQLAlchemy's processing."""
    for sample in samples:
        mine, theirs = fast(sample), own(sample)
        if type(mine) is not type(theirs) or mine != theirs:
            return own
        if isinstance(mine, datetime) and mine.tzinfo is not theirs.tzinfo:
            return own
    return fast


def _utc_to_text(own: Processor) -> Processor:
    def process(value: Any) -> Any:
        # A UTC datetime as SQLite's DATETIME stores it ("YYYY-MM-DD HH:MM:SS.ffffff", UTC
        # without an offset); anything else (naive: refused, other zones) goes the usual way.
        if value.__class__ is datetime and value.tzinfo is UTC:
            return value.isoformat(" ", "microseconds")[:26]
        return own(value)

    return process


def _utc_from_text(own: Processor) -> Processor:
    from_text = datetime.fromisoformat

    def process(value: Any) -> Any:
        # Exactly the text ``_utc_to_text`` writes; any other goes the usual way.
        if value.__class__ is str and len(value) == 26 and value[10] == " ":
            return from_text(value + "+00:00")
        return own(value)

    return process


def _json_to_text(own: Processor, encode: Callable[[Any, int], list[str]]) -> Processor:
    def process(value: Any) -> Any:
        # json.dumps's own C encoder, made once (``dumps`` makes one per call); objects and
        # arrays only: None, SQL NULL and scalars go the usual way.
        if value.__class__ is dict or value.__class__ is list:
            return "".join(encode(value, 0))
        return own(value)

    return process


def _json_encoder() -> Callable[[Any, int], list[str]] | None:
    """``json.dumps``'s default C encoder (no circular check: the rows are plain data)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    encoder: Callable[[Any, int], list[str]] = make(
        None,
        json.JSONEncoder().default,
        encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )
    return encoder


_JSON_ENCODE = _json_encoder()


def json_text(value: list[Any] | dict[str, Any]) -> str:
    """``json.dumps(value)``, byte for byte, without making an encoder per call (the lists a
    group commit's statements pass to SQLite's ``json_each``)."""
    if _JSON_ENCODE is None:
        return json.dumps(value)
    return "".join(_JSON_ENCODE(value, 0))


_DATETIME_SAMPLES = (
    datetime(2026, 1, 15, 9, 15, 0, 123456, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(1999, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
    None,
)
_JSON_SAMPLES: tuple[object, ...] = (
    {"to": "+77070000001", "text": 'Баланс 1 ₸ "<&>"\n', "n": [1, 2.5, -3, True, None, {}]},
    [{"a": []}, "x"],
    {},
    [],
    None,
    "text",
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
    """SQLite: multi-row VALUES, one text per row count, the shared values bound once (the
    first parameters, named by number in every row). PostgreSQL: whole columns as arrays, one
    text whatever the count (parsed and prepared once)."""
    # Table and column names from the schema, placeholders: no data in the text.
    columns = ", ".join(shape.columns)
    if shape.postgresql:
        source = f"SELECT * FROM unnest({shape.arrays})"  # noqa: S608
    elif not shape.shared:
        source = "VALUES " + ", ".join(["(" + ", ".join(["?"] * shape.own) + ")"] * rows)
    else:
        common = "".join(f", ?{i + 1}" for i in range(shape.shared))
        first = shape.shared + 1
        source = "VALUES " + ", ".join(
            "("
            + ", ".join(f"?{first + r * shape.own + c}" for c in range(shape.own))
            + common
            + ")"
            for r in range(rows)
        )
    sql = f"INSERT INTO {shape.table} ({columns}) {source}"
    return sql + (f" RETURNING {', '.join(returning)}" if returning else "")


def insert_rows(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, object]],
    *,
    shared: Mapping[str, object] | None = None,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (every row with the same keys) with one statement (SQLite: one per
    thousand or so rows), for a group commit's hot path, where SQLAlchemy's per-statement
    compilation and per-value bind processing were most of the CPU.

    ``shared`` holds the columns that have one value for every row (a batch's ``now``, a
    status): each is processed and, on SQLite, bound once. The values still go through the
    columns' own bind processors, or faster ones checked to give the same (a value repeated
    from the row before, like a batch's one ``now``, is processed once). SQLite gets a
    multi-row VALUES, PostgreSQL the columns as arrays (inside ``deferred_inserts`` and without
    ``returning``: at the end of that block); inside a transaction the statement goes
    straight to the driver, errors wrapped as SQLAlchemy wraps them (a repeated key is still
    ``IntegrityError``). Returns the ``returning`` columns of the inserted rows, in no
    particular order.
    """
    if not rows:
        return []
    columns = tuple(rows[0])
    if len(columns) == 1:
        tuples = [(row[columns[0]],) for row in rows]
    else:  # a tuple per row, made in C
        tuples = list(map(itemgetter(*columns), rows))
    return insert_tuples(connection, table, columns, tuples, shared=shared, returning=returning)


def insert_tuples(
    connection: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[object]],
    *,
    shared: Mapping[str, object] | None = None,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """``insert_rows`` for rows given as tuples of the ``columns``' values, in that order (no
    dict per row: the hottest group commit rows are built this way)."""
    if not rows:
        return []
    if not columns:
        raise ValueError("every row needs a column of its own")
    common = shared or {}
    shape = _shape(table, columns, tuple(common), connection.dialect)
    own, processors = shape.own, shape.processors
    common_values = [
        value if process is None else process(value)
        for value, process in zip(common.values(), processors[own:], strict=True)
    ]
    tuples = rows
    if shape.postgresql:
        arrays = [
            values if process is None else _processed(values, process)
            for values, process in zip(
                map(list, zip(*tuples, strict=True)), processors[:own], strict=True
            )
        ]
        arrays += [[value] * len(tuples) for value in common_values]
        sql = _insert_sql(shape, 0, returning)
        deferred = None if returning else connection.info.get(_DEFERRED)
        if isinstance(deferred, list):
            deferred.append((sql, tuple(arrays)))
            return []
        result = run_on_driver(connection, sql, arrays)
        return [tuple(row) for row in result.fetchall()] if returning else []
    # SQLite: the rows' values in one flat list, row after row; each processed column is a
    # slice of it, processed in place.
    flat = list(chain.from_iterable(tuples))
    if len(flat) != own * len(tuples):
        raise ValueError(f"every row needs exactly {own} values")
    for index, process in enumerate(processors[:own]):
        if process is not None:
            flat[index::own] = _processed(flat[index::own], process)
    per_statement = max(1, (_MAX_SQLITE_PARAMS - shape.shared) // own)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(tuples), per_statement):
        count = min(per_statement, len(tuples) - start)
        params = common_values + flat[start * own : (start + count) * own]
        result = run_on_driver(connection, _insert_sql(shape, count, returning), params)
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
    run_on_sqlite(driver, connection.dialect, sql, rows, many=True)


def run_on_sqlite(
    driver: sqlite3.Connection, dialect: sa.Dialect, sql: str, params: Any, *, many: bool = False
) -> sqlite3.Cursor:
    """``sql`` straight on a sqlite3 connection already found (``executemany`` if ``many``),
    errors wrapped as SQLAlchemy wraps them (a repeated key is still ``IntegrityError``)."""
    try:
        return driver.executemany(sql, params) if many else driver.execute(sql, params)
    except sqlite3.Error as exc:
        raise sa_exc.DBAPIError.instance(sql, None, exc, sqlite3.Error, dialect=dialect) from exc


@lru_cache(maxsize=256)
def _result_processors(
    table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect
) -> tuple[Callable[[Any], Any] | None, ...]:
    return tuple(
        _result_processor(table.c[name].type.dialect_impl(dialect), dialect) for name in columns
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
    processed = [(i, process) for i, process in enumerate(processors) if process is not None]
    if not processed:
        return [tuple(row) for row in rows]
    if not rows:
        return []
    # Column by column (transposed in C), only the columns with a processor: most have none.
    by_column: list[Any] = list(zip(*rows, strict=True))
    for i, process in processed:
        by_column[i] = map(process, by_column[i])
    return list(zip(*by_column, strict=True))
