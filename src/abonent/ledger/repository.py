"""Ledger storage: a Protocol for services, and its SQL implementation (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
import struct
import sys
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Protocol, cast

import sqlalchemy as sa
from psycopg import pq
from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from sqlalchemy import bindparam, func, select
from sqlalchemy import exc as sa_exc

from abonent.core.money import Tiyn
from abonent.db.bulk_rows import run_on_sqlite
from abonent.ledger.domain import (
    Account,
    PostedTransaction,
    Posting,
    TransactionRequest,
    check_floor,
)
from abonent.ledger.tables import accounts, ledger_transactions, postings


class LedgerRepository(Protocol):
    def create_account(self, code: str, kind: str, floor: Tiyn | None, now: datetime) -> int: ...
    def account_by_code(self, code: str) -> Account | None: ...
    def account(self, account_id: int) -> Account | None: ...
    def find_transaction(self, source: str, key: str) -> PostedTransaction | None: ...
    def transaction(self, transaction_id: int) -> PostedTransaction | None: ...
    def insert_transaction(self, request: TransactionRequest, now: datetime) -> int: ...
    def apply_delta(self, account_id: int, delta: Tiyn) -> bool: ...
    def apply_net(self, net: dict[int, Tiyn]) -> int | None: ...
    def record_transaction(
        self, request: TransactionRequest, now: datetime
    ) -> tuple[int, int | None]: ...


# Statements built once; SQLAlchemy caches their compiled form.
_CREDIT = (
    accounts.update()
    .where(accounts.c.id == bindparam("aid"))
    .values(balance=accounts.c.balance + bindparam("delta"))
)
_INSERT_POSTINGS = postings.insert()


# The statements every money movement runs, written out per database and sent with
# ``exec_driver_sql``: profiling ``post`` showed SQLAlchemy's per-statement compilation and
# parameter processing costing as much CPU as SQLite's own work. A debit is guarded: it
# changes the row only if the floor allows, under the row's lock. Parameters are positional:
# (delta, account id[, delta]).
_SQL_INSERT_TRANSACTION = (
    "INSERT INTO ledger_transactions"
    " (kind, source, idempotency_key, reference, fingerprint, reverses_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SQL_CREDIT = "UPDATE accounts SET balance = balance + ? WHERE id = ?"
_SQL_GUARDED_DEBIT = (
    "UPDATE accounts SET balance = balance + ?"
    " WHERE id = ? AND (floor IS NULL OR balance + ? >= floor)"
)
# (Both balances of a transfer in one UPDATE … WHERE id IN (?, ?) cost SQLite more than these
# two: it builds a temporary b-tree for the IN list, and zeroes a page for it, every time.)
# PostgreSQL: the transaction row and its postings in one round trip; ORDER BY keeps posting
# ids in the request's order.
_PG_INSERT_TRANSACTION_WITH_POSTINGS = (
    "WITH t AS (INSERT INTO ledger_transactions"
    " (kind, source, idempotency_key, reference, fingerprint, reverses_id, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id)"
    " INSERT INTO postings (transaction_id, account_id, amount)"
    " SELECT t.id, p.account_id, p.amount"
    " FROM t, unnest(%b::bigint[], %b::bigint[]) WITH ORDINALITY AS p(account_id, amount, n)"
    " ORDER BY p.n RETURNING transaction_id"
)
# A batch's transactions and their postings in one statement. The transactions go in in request
# order, so their new ids rise in that order (one session's sequence values only grow) and the
# k-th smallest is request k's: postings name their request by its ordinal instead of by key (a
# join on the text keys sorted them by collation, ≈ 10 µs of server CPU a transfer);
# ``_insert_transactions_pg`` checks the keys come back in that order. The postings'
# foreign-key checks run at the end of the statement and see the new transactions. The balances
# move in a statement of their own, after: in the same statement the checks ran after the
# update and locked every new row version of the accounts again (≈ 20 % longer under the locks,
# measured).
# Arrays are sent in binary (``%b``): psycopg's text format quotes every element in Python
# (≈ 1 ms per 1,000 strings here), the binary one costs a quarter of that.
_PG_WRITE_BATCH = (
    "WITH t AS (INSERT INTO ledger_transactions"
    " (kind, source, idempotency_key, reference, fingerprint, reverses_id, created_at)"
    " SELECT r.kind, r.source, r.idempotency_key, r.reference, r.fingerprint, r.reverses_id, %s"
    " FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[])"
    " WITH ORDINALITY AS r(kind, source, idempotency_key, reference, fingerprint, reverses_id, n)"
    " ORDER BY r.n RETURNING id, source, idempotency_key),"
    " k AS (SELECT id, row_number() OVER (ORDER BY id) AS request FROM t),"
    " p AS (INSERT INTO postings (transaction_id, account_id, amount)"
    " SELECT k.id, p.account_id, p.amount"
    " FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[])"
    " WITH ORDINALITY AS p(request, account_id, amount, n)"
    " JOIN k ON k.request = p.request ORDER BY p.n)"
    " SELECT id, source, idempotency_key FROM t ORDER BY id"
)
_PG_ACCOUNTS_BY_ID = (
    "SELECT id, code, kind, balance, floor FROM accounts WHERE id = ANY(%b::bigint[]) ORDER BY id"
)
# The accounts locked as ``_PG_ACCOUNTS_BY_ID`` locks them (id order), and the floor check of a
# batch that fits done where the rows are: how many exist, and how many of those would go below
# their floor by their debit (NULL, not counted, without a floor or a debit). Sending the rows
# back cost ≈ 10 ms of this process's CPU a batch of 1,000 (≈ 870 rows made into ``Account``).
_PG_LOCK_IF_ALL_FIT = (
    "SELECT count(*), count(*) FILTER (WHERE a.balance + d.debit < a.floor)"
    " FROM (SELECT id, balance, floor FROM accounts WHERE id = ANY(%b::bigint[])"
    " ORDER BY id FOR NO KEY UPDATE) AS a"
    " LEFT JOIN unnest(%b::bigint[], %b::bigint[]) AS d(id, debit) ON d.id = a.id"
)
_PG_APPLY_DELTAS = (
    "UPDATE accounts SET balance = accounts.balance + d.delta"
    " FROM unnest(%b::bigint[], %b::bigint[]) AS d(id, delta) WHERE accounts.id = d.id"
)
# The (source, key) pairs of a batch, all sources in one statement (an agents' batch has one
# source per agent: a statement each cost a round trip each). Not ``idempotency_key = ANY(…)``:
# with the values known (psycopg plans its first executions with them) the planner chose a
# sequential scan of every stored transaction with a linear ANY over the batch's keys, ≈ most
# of the server's CPU of a batch once the table held 100,000 rows. The lateral subquery with
# ``OFFSET 0`` cannot be turned into a join, so each pair is one probe of the (source, key)
# index whatever the planner thinks of the table's size.
_PG_STORED_FINGERPRINTS = (
    "SELECT k.source, k.key, t.fingerprint FROM unnest(%b::text[], %b::text[]) AS k(source, key)"
    " CROSS JOIN LATERAL (SELECT fingerprint FROM ledger_transactions"
    " WHERE source = k.source AND idempotency_key = k.key OFFSET 0) AS t"
)


# SQLite batches: a JSON array parameter keeps each statement's text fixed (one prepared
# statement), and rows go in with ``executemany`` (a C loop) instead of SQLAlchemy's per-row
# parameter processing, which cost more than SQLite's own work.
_SQLITE_ACCOUNTS_BY_ID = (
    "SELECT id, code, kind, balance, floor FROM accounts"
    " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
)
_SQLITE_EXISTING_KEYS = (
    "SELECT idempotency_key, fingerprint FROM ledger_transactions"
    " WHERE source = ? AND idempotency_key IN (SELECT value FROM json_each(?))"
)
_SQLITE_LAST_TRANSACTION_ID = "SELECT max(id) FROM ledger_transactions"
_SQLITE_INSERT_TRANSACTIONS_WITH_IDS = (
    "INSERT INTO ledger_transactions"
    " (id, kind, source, idempotency_key, reference, fingerprint, reverses_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# A transfer that reverses nothing (nearly all): NULL left to the column default rather than
# bound, as binding None costs the sqlite3 module ≈ 3,300 instructions (it looks for an adapter
# and formats the AttributeError of a missing ``__conform__``), ≈ 1.5 % of a one-commit transfer.
_SQLITE_INSERT_NEW_TRANSACTION = (
    "INSERT INTO ledger_transactions"
    " (kind, source, idempotency_key, reference, fingerprint, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
# ``_SQL_GUARDED_DEBIT`` with the delta bound once: (delta, account id).
_SQLITE_GUARDED_DEBIT = (
    "UPDATE accounts SET balance = balance + ?1"
    " WHERE id = ?2 AND (floor IS NULL OR balance + ?1 >= floor)"
)
_SQLITE_INSERT_TWO_POSTINGS = (
    "INSERT INTO postings (transaction_id, account_id, amount) VALUES (?, ?, ?), (?, ?, ?)"
)
_SQLITE_INSERT_POSTING = (
    "INSERT INTO postings (transaction_id, account_id, amount) VALUES (?, ?, ?)"
)


class _Int8Array:
    """Ints (or None) sent as a PostgreSQL bigint[], encoded by ``_Int8ArrayDumper``."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[int | None]) -> None:
        self.values = values


class _TextArray:
    """Strings sent as a PostgreSQL text[] (no NULLs), encoded by ``_TextArrayDumper``."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[str]) -> None:
        self.values = values


# PostgreSQL's binary array format (``array_recv``): dimensions, has-NULLs flag, element type,
# then per dimension its length and lower bound; then each element as its length and bytes.
# psycopg's own list dumper works element by element in Python (≈ 1 µs an int, measured); these
# build the same bytes with a few C-level calls: ≈ 5× less for ints, ≈ 3× less for strings,
# ≈ 5 ms of this process's CPU a batch of 1,000 transfers.
_ARRAY_HEADER = struct.Struct(">iiIii")
_EMPTY_ARRAY = struct.Struct(">iiI")
_INT8_OID = pg_types["int8"].oid
_TEXT_OID = pg_types["text"].oid
_LENGTH_8 = array("I", struct.pack(">i", 8))  # an int8 element's length word, as sent
_LENGTH = struct.Struct(">i").pack
_INT8_ELEMENT = struct.Struct(">iq").pack
_NULL_ELEMENT = struct.pack(">i", -1)


def binary_int8_array(values: Sequence[int | None]) -> bytes:
    """``values`` in PostgreSQL's binary bigint[] format (``OverflowError`` beyond 64 bits)."""
    count = len(values)
    if not count:
        return _EMPTY_ARRAY.pack(0, 0, _INT8_OID)
    if None in values:  # rare (reversals' ids among transactions): element by element
        return _ARRAY_HEADER.pack(1, 1, _INT8_OID, count, 1) + b"".join(
            _NULL_ELEMENT if value is None else _INT8_ELEMENT(8, value) for value in values
        )
    numbers = array("q", cast("Sequence[int]", values))  # no None: checked above
    if sys.byteorder == "little":
        numbers.byteswap()
    halves = array("I", numbers.tobytes())  # two words a number, as sent: high one first
    elements = _LENGTH_8 * (3 * count)
    elements[1::3] = halves[0::2]
    elements[2::3] = halves[1::2]
    return _ARRAY_HEADER.pack(1, 0, _INT8_OID, count, 1) + elements.tobytes()


def binary_text_array(values: Sequence[str], encoding: str = "utf-8") -> bytes:
    """``values`` in PostgreSQL's binary text[] format."""
    if not values:
        return _EMPTY_ARRAY.pack(0, 0, _TEXT_OID)
    encoded = [value.encode(encoding) for value in values]
    elements = b"".join(map(bytes.__add__, map(_LENGTH, map(len, encoded)), encoded))
    return _ARRAY_HEADER.pack(1, 0, _TEXT_OID, len(values), 1) + elements


class _Int8ArrayDumper(Dumper):
    format = pq.Format.BINARY
    oid = pg_types["int8"].array_oid

    def dump(self, obj: _Int8Array) -> bytes:
        return binary_int8_array(obj.values)


class _TextArrayDumper(Dumper):
    format = pq.Format.BINARY
    oid = pg_types["text"].array_oid

    def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
        super().__init__(cls, context)
        # As psycopg's own text dumpers: SQL_ASCII databases get UTF-8.
        found = self.connection.info.encoding if self.connection else "utf-8"
        self._encoding = found if found != "ascii" else "utf-8"

    def dump(self, obj: _TextArray) -> bytes:
        return binary_text_array(obj.values, self._encoding)


class _Outcome(Protocol):
    @property
    def rowcount(self) -> int: ...
    @property
    def lastrowid(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Dialect:
    postgresql: bool
    created_at: Callable[[datetime], Any]  # the column type's own bind processing
    credit: str
    guarded_debit: str


_DIALECTS: dict[str, _Dialect] = {}


def _dialect(dialect: sa.Dialect) -> _Dialect:
    known = _DIALECTS.get(dialect.name)
    if known is None:
        known = _DIALECTS[dialect.name] = _make_dialect(dialect)
    return known


def _make_dialect(dialect: sa.Dialect) -> _Dialect:
    processor: Callable[[datetime], Any] | None = sqlite_timestamp
    if dialect.name != "sqlite":
        column_type = ledger_transactions.c.created_at.type.dialect_impl(dialect)
        processor = column_type.bind_processor(dialect)
    postgresql = dialect.name == "postgresql"

    def style(sql: str) -> str:
        return sql.replace("?", "%s") if postgresql else sql

    return _Dialect(
        postgresql=postgresql,
        created_at=processor or (lambda value: value),
        credit=style(_SQL_CREDIT),
        guarded_debit=style(_SQL_GUARDED_DEBIT),
    )


# "000" … "999": the microseconds of a timestamp are two of them.
_THREE_DIGITS = tuple(f"{n:03d}" for n in range(1000))
# The second of the last timestamp written: (its start, the next second's start, its text up to
# the microseconds). One tuple, replaced whole, so threads never see parts of two seconds.
_LAST_SECOND_OF_TIME = datetime.max.replace(microsecond=0, tzinfo=UTC)
_last_second: tuple[datetime, datetime, str] = (_LAST_SECOND_OF_TIME, _LAST_SECOND_OF_TIME, "")


def sqlite_timestamp(value: datetime) -> str:
    """What ``UtcDateTime`` stores on SQLite for ``value``: naive UTC text
    "YYYY-MM-DD HH:MM:SS.ffffff", microseconds always. Raises ``ValueError`` for a naive
    datetime, as the column type does.

    Every transfer writes one, and ``datetime.isoformat`` cost ≈ 13,000 instructions (its
    printf-style formatting), ≈ 5 % of a one-commit transfer; most timestamps fall in the second
    of the one before, so only the microseconds are formatted then (≈ 2,000)."""
    global _last_second
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use the injected clock")
        value = value.astimezone(UTC)
    start, end, text = _last_second
    if not start <= value < end:
        start = value.replace(microsecond=0)
        # An aware datetime's text ends with its offset ("+00:00"): the first 19 characters
        # are "YYYY-MM-DD HH:MM:SS" (isoformat pads the year to four digits).
        text = start.isoformat(" ")[:19] + "."
        if start < _LAST_SECOND_OF_TIME:  # that one has no next second: formatted every time
            _last_second = (start, start + timedelta(seconds=1), text)
    microseconds = value.microsecond
    return text + _THREE_DIGITS[microseconds // 1000] + _THREE_DIGITS[microseconds % 1000]


@cache
def _sqlite_insert_postings(legs: int) -> str:
    values = ", ".join(["(?, ?, ?)"] * legs)  # placeholders only: no data in the text
    return f"INSERT INTO postings (transaction_id, account_id, amount) VALUES {values}"  # noqa: S608


ORPHANS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class AuditFigures:
    transactions: int
    postings: int
    accounts: int
    unbalanced_transactions: list[tuple[int, int]]  # (transaction id, sum)
    short_transactions: list[int]  # fewer than two postings
    drifted_accounts: list[tuple[str, int, int]]  # (code, stored balance, sum of postings)
    below_floor: list[tuple[str, int, int]]  # (code, balance, floor)
    total_balance: int
    # (posting id, transaction id, account id) of postings whose transaction or account is
    # missing (the first ``ORPHANS_SHOWN``): foreign keys on SQLite, a trigger on PostgreSQL
    # keep them out; the audit checks rather than trusts that.
    orphan_postings: list[tuple[int, int, int]]


class SqlLedgerRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self._sql = _dialect(connection.dialect)
        self._driver: sqlite3.Connection | None = None  # SQLite: found on first use
        self._cursor: sqlite3.Cursor | None = None  # and a cursor of it, kept for reuse
        self.postgresql = self._sql.postgresql

    def _hot(self, sql: str, params: tuple[Any, ...]) -> _Outcome:
        """Run one of the per-transfer statements.

        On SQLite inside a transaction it goes straight to the sqlite3 connection: SQLAlchemy's
        bookkeeping around a statement (~5 µs) was a sixth of a transfer's CPU. Driver errors
        are wrapped as SQLAlchemy wraps them (a repeated key is still ``IntegrityError``), so
        callers see the same exceptions. Outside a transaction SQLAlchemy runs it (autobegin).
        """
        driver = self._sqlite_in_transaction()
        if driver is None:
            return self.connection.exec_driver_sql(sql, params)
        try:
            return driver.execute(sql, params)
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(
                sql, params, exc, sqlite3.Error, dialect=self.connection.dialect
            ) from exc

    def _sqlite_in_transaction(self) -> sqlite3.Connection | None:
        """The sqlite3 connection when it is inside a transaction (so its write lock is ours),
        else None: PostgreSQL, or SQLite outside a transaction (SQLAlchemy runs it then)."""
        if self._sql.postgresql:
            return None
        driver = self._driver
        if driver is None:
            found = self.connection.connection.driver_connection
            assert isinstance(found, sqlite3.Connection)
            driver = self._driver = found
            self._cursor = found.cursor()
        return driver if driver.in_transaction else None

    def _driver_run(
        self, driver: sqlite3.Connection, sql: str, params: Any, *, many: bool = False
    ) -> sqlite3.Cursor:
        """A statement straight on the sqlite3 connection, errors wrapped as SQLAlchemy does."""
        return run_on_sqlite(driver, self.connection.dialect, sql, params, many=many)

    def _pg_arrays(self) -> None:
        """Teach this connection ``_Int8Array`` and ``_TextArray`` (a few µs). Per connection,
        not in psycopg's global map: a connection copies that map when it opens, and the pool
        may have opened it before this module was imported."""
        driver = self.connection.connection.driver_connection
        assert driver is not None  # the connection is open: this unit of work runs on it
        adapters = driver.adapters
        adapters.register_dumper(_Int8Array, _Int8ArrayDumper)
        adapters.register_dumper(_TextArray, _TextArrayDumper)

    # -- accounts -------------------------------------------------------------------------
    def create_account(self, code: str, kind: str, floor: Tiyn | None, now: datetime) -> int:
        result = self.connection.execute(
            accounts.insert().returning(accounts.c.id),
            {"code": code, "kind": kind, "balance": 0, "floor": floor, "created_at": now},
        )
        return int(result.scalar_one())

    def ensure_account(self, code: str, kind: str, floor: Tiyn | None, now: datetime) -> int:
        existing = self.account_by_code(code)
        return existing.id if existing else self.create_account(code, kind, floor, now)

    def account_by_code(self, code: str) -> Account | None:
        row = self.connection.execute(select(accounts).where(accounts.c.code == code)).first()
        return _account(row) if row else None

    def account(self, account_id: int) -> Account | None:
        row = self.connection.execute(select(accounts).where(accounts.c.id == account_id)).first()
        return _account(row) if row else None

    def accounts_by_id(self, ids: Iterable[int], *, lock: bool = False) -> dict[int, Account]:
        """Read (and on PostgreSQL lock, in id order) the given accounts.

        The lock is FOR NO KEY UPDATE, the lock a balance UPDATE takes, not FOR UPDATE: FOR UPDATE
        also blocks the KEY SHARE locks that inserting postings takes on their accounts (foreign
        key checks, in posting order, not id order), and a batch holding FOR UPDATE deadlocked
        with a single transfer crediting a lower id than it debits.
        """
        if self._sql.postgresql:
            # One array parameter instead of one placeholder per id: the text never changes.
            sql = _PG_ACCOUNTS_BY_ID + (" FOR NO KEY UPDATE" if lock else "")
            found = self.connection.exec_driver_sql(sql, (sorted(set(ids)),))
            return {row.id: _account(row) for row in found}
        driver = self._sqlite_in_transaction()
        if driver is not None:  # SQLite locks the whole file: nothing to lock per row
            found_rows = self._driver_run(driver, _SQLITE_ACCOUNTS_BY_ID, (json.dumps(list(ids)),))
            return {
                row[0]: Account(row[0], row[1], row[2], row[3], row[4])
                for row in found_rows.fetchall()
            }
        query = select(accounts).where(accounts.c.id.in_(sorted(set(ids)))).order_by(accounts.c.id)
        if lock:
            query = query.with_for_update(key_share=True)  # FOR NO KEY UPDATE
        return {row.id: _account(row) for row in self.connection.execute(query)}

    def lock_if_all_fit(self, account_ids: Iterable[int], debits: dict[int, Tiyn]) -> bool:
        """Lock the accounts as ``accounts_by_id(..., lock=True)`` does; whether all of them
        exist and each floored one stays at or above its floor after its debit (``debits``:
        account id → total debit, ≤ 0). On PostgreSQL the rows are not sent back."""
        wanted = sorted(set(account_ids))
        if not self._sql.postgresql:
            locked = self.accounts_by_id(wanted, lock=True)
            return len(locked) == len(wanted) and all(
                check_floor(locked[a].balance, locked[a].floor, debit)
                for a, debit in debits.items()
            )
        self._pg_arrays()
        row = self.connection.exec_driver_sql(
            _PG_LOCK_IF_ALL_FIT,
            (_Int8Array(wanted), _Int8Array(list(debits)), _Int8Array(list(debits.values()))),
        ).one()
        return bool(row[0] == len(wanted) and row[1] == 0)

    def set_floor(self, account_id: int, floor: Tiyn | None) -> None:
        self.connection.execute(
            accounts.update().where(accounts.c.id == account_id).values(floor=floor)
        )

    def apply_delta(self, account_id: int, delta: Tiyn) -> bool:
        """Add ``delta`` to the balance; a debit only if the floor allows. False if refused."""
        if delta >= 0:
            result = self._hot(self._sql.credit, (delta, account_id))
        else:
            result = self._hot(self._sql.guarded_debit, (delta, account_id, delta))
        return result.rowcount == 1

    def apply_net(self, net: dict[int, Tiyn]) -> int | None:
        """Apply each account's net change in ascending id order, debits only if the floor
        allows. Returns the account refused (then some changes may be applied already: the
        caller abandons its unit of work), or None."""
        for account_id, delta in net.items():
            if not self.apply_delta(account_id, delta):
                return account_id
        return None

    def apply_deltas_unguarded(self, deltas: dict[int, Tiyn]) -> None:
        """Apply precomputed net deltas (the caller already checked floors under lock).

        The caller holds the rows' locks (``accounts_by_id(..., lock=True)``), so on PostgreSQL
        one statement updates them all without taking a lock out of id order.
        """
        if deltas and self._sql.postgresql:
            self._pg_arrays()
            ordered = sorted(deltas)
            self.connection.exec_driver_sql(
                _PG_APPLY_DELTAS,
                (_Int8Array(ordered), _Int8Array([deltas[a] for a in ordered])),
            )
        elif deltas and (driver := self._sqlite_in_transaction()) is not None:
            rows = [(delta, aid) for aid, delta in sorted(deltas.items())]
            self._driver_run(driver, _SQL_CREDIT, rows, many=True)
        elif deltas:
            self.connection.execute(
                _CREDIT, [{"aid": aid, "delta": delta} for aid, delta in sorted(deltas.items())]
            )

    # -- transactions ---------------------------------------------------------------------
    def record_transaction(
        self, request: TransactionRequest, now: datetime
    ) -> tuple[int, int | None]:
        """``insert_transaction`` then ``apply_net`` of the request's net changes: returns the
        new transaction's id and the account whose floor refused a debit (then the caller must
        abandon its unit of work), or None. A repeated key raises IntegrityError.

        On SQLite inside a transaction a transfer (two legs) goes straight to the sqlite3
        connection in four statements with no layer in between: this is the whole of a
        one-commit ``ledger.post`` but for BEGIN and COMMIT, and the Python around them cost
        as much CPU as SQLite's own work."""
        postings = request.postings
        driver, cursor = self._driver, self._cursor
        if driver is None and self._sqlite_in_transaction() is not None:
            driver, cursor = self._driver, self._cursor  # found on this first use
        if driver is None or cursor is None or not driver.in_transaction or len(postings) != 2:
            inserted = self.insert_transaction(request, now)
            return inserted, self.apply_net(request.net_by_account())
        first, second = postings
        reverses_id = request.reverses_id
        if reverses_id is None:
            sql = _SQLITE_INSERT_NEW_TRANSACTION
            row: tuple[object, ...] = (
                request.kind,
                request.source,
                request.idempotency_key,
                request.reference,
                request.fingerprint,
                sqlite_timestamp(now),
            )
        else:
            sql = _SQL_INSERT_TRANSACTION
            row = self._transaction_row(request, now)
        # One cursor for all of them: ``Connection.execute`` makes (and drops) a new one a call.
        try:
            transaction_id = cursor.execute(sql, row).lastrowid
            assert transaction_id is not None  # a row went in
            debit_id, debit = first.account_id, first.amount
            credit_id, credit = second.account_id, second.amount
            sql = _SQLITE_INSERT_TWO_POSTINGS
            cursor.execute(
                sql, (transaction_id, debit_id, debit, transaction_id, credit_id, credit)
            )
            if debit_id == credit_id:
                return transaction_id, None  # the legs cancel out: no balance moves
            if debit > 0:  # the legs sum to zero: exactly one of them is negative
                debit_id, debit, credit_id, credit = credit_id, credit, debit_id, debit
            # SQLite locks the whole file, so the order of the two rows does not matter here.
            sql = _SQLITE_GUARDED_DEBIT
            if cursor.execute(sql, (debit, debit_id)).rowcount != 1:
                return transaction_id, debit_id
            sql = _SQL_CREDIT
            cursor.execute(sql, (credit, credit_id))
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(
                sql, None, exc, sqlite3.Error, dialect=self.connection.dialect
            ) from exc
        return transaction_id, None

    def _transaction_row(self, request: TransactionRequest, now: datetime) -> tuple[object, ...]:
        """The values of ``_SQL_INSERT_TRANSACTION``'s placeholders, in their order."""
        return (
            request.kind,
            request.source,
            request.idempotency_key,
            request.reference,
            request.fingerprint,
            request.reverses_id,
            self._sql.created_at(now),
        )

    def insert_transaction(self, request: TransactionRequest, now: datetime) -> int:
        """Insert the transaction row and its postings; a repeated key raises IntegrityError."""
        row = self._transaction_row(request, now)
        if self._sql.postgresql:
            legs = request.postings
            result = self.connection.exec_driver_sql(
                _PG_INSERT_TRANSACTION_WITH_POSTINGS,
                (*row, [p.account_id for p in legs], [p.amount for p in legs]),
            )
            first = result.first()  # one row per posting, all with the same id
            assert first is not None
            return int(first[0])
        transaction_id = int(self._hot(_SQL_INSERT_TRANSACTION, row).lastrowid)
        values: list[int] = []
        for p in request.postings:
            values += (transaction_id, p.account_id, p.amount)
        self._hot(_sqlite_insert_postings(len(request.postings)), tuple(values))
        return transaction_id

    def insert_transactions(
        self, requests: Sequence[TransactionRequest], now: datetime
    ) -> list[int]:
        """Insert many transactions and their postings with two bulk statements."""
        if not requests:
            return []
        if self._sql.postgresql:
            return self._insert_transactions_pg(requests, now)
        driver = self._sqlite_in_transaction()
        if driver is not None:
            return self._insert_transactions_sqlite(driver, requests, now)
        rows = self.connection.execute(
            ledger_transactions.insert().returning(
                ledger_transactions.c.id, sort_by_parameter_order=True
            ),
            [
                {
                    "kind": r.kind,
                    "source": r.source,
                    "idempotency_key": r.idempotency_key,
                    "reference": r.reference,
                    "fingerprint": r.fingerprint,
                    "reverses_id": r.reverses_id,
                    "created_at": now,
                }
                for r in requests
            ],
        )
        ids = [int(row[0]) for row in rows]
        self.connection.execute(
            _INSERT_POSTINGS,
            [
                {"transaction_id": tid, "account_id": p.account_id, "amount": p.amount}
                for tid, r in zip(ids, requests, strict=True)
                for p in r.postings
            ],
        )
        return ids

    def _insert_transactions_sqlite(
        self, driver: sqlite3.Connection, requests: Sequence[TransactionRequest], now: datetime
    ) -> list[int]:
        # Our transaction holds SQLite's write lock (BEGIN IMMEDIATE), so nobody else can insert
        # before we commit: the ids after the current largest are ours, exactly the ones SQLite
        # would pick one by one (an INTEGER PRIMARY KEY without AUTOINCREMENT takes max + 1).
        # Knowing them up front lets both tables go in with ``executemany``, not one
        # ``INSERT … RETURNING`` per row.
        last = self._driver_run(driver, _SQLITE_LAST_TRANSACTION_ID, ()).fetchone()
        first = (last[0] or 0) + 1 if last else 1
        ids = list(range(first, first + len(requests)))
        created_at = self._sql.created_at(now)
        self._driver_run(
            driver,
            _SQLITE_INSERT_TRANSACTIONS_WITH_IDS,
            [
                (
                    tid,
                    r.kind,
                    r.source,
                    r.idempotency_key,
                    r.reference,
                    r.fingerprint,
                    r.reverses_id,
                    created_at,
                )
                for tid, r in zip(ids, requests, strict=True)
            ],
            many=True,
        )
        self._driver_run(
            driver,
            _SQLITE_INSERT_POSTING,
            [
                (tid, p.account_id, p.amount)
                for tid, r in zip(ids, requests, strict=True)
                for p in r.postings
            ],
            many=True,
        )
        return ids

    def _insert_transactions_pg(
        self, requests: Sequence[TransactionRequest], now: datetime
    ) -> list[int]:
        """The transactions and their postings in one statement; their ids in request order."""
        self._pg_arrays()
        legs = [(n, p) for n, r in enumerate(requests, start=1) for p in r.postings]
        rows = self.connection.exec_driver_sql(
            _PG_WRITE_BATCH,
            (
                self._sql.created_at(now),
                _TextArray([r.kind for r in requests]),
                _TextArray([r.source for r in requests]),
                _TextArray([r.idempotency_key for r in requests]),
                _TextArray([r.reference for r in requests]),
                _TextArray([r.fingerprint for r in requests]),
                _Int8Array([r.reverses_id for r in requests]),
                _Int8Array([n for n, _ in legs]),
                _Int8Array([p.account_id for _, p in legs]),
                _Int8Array([p.amount for _, p in legs]),
            ),
        ).all()
        for (_, source, key), request in zip(rows, requests, strict=True):
            if (source, key) != (request.source, request.idempotency_key):
                # Postings would belong to the wrong transactions: the caller's unit of work
                # must not commit (it rolls back when this propagates).
                raise RuntimeError("ledger batch: transaction ids did not rise in request order")
        return [int(row[0]) for row in rows]

    def write_batch(
        self, requests: Sequence[TransactionRequest], now: datetime, deltas: dict[int, Tiyn]
    ) -> list[int]:
        """``insert_transactions`` then ``apply_deltas_unguarded``: the accepted part of a batch
        (the caller holds the accounts' locks). On PostgreSQL two statements."""
        ids = self.insert_transactions(requests, now)
        self.apply_deltas_unguarded(deltas)
        return ids

    def stored_fingerprints(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(source, key) → stored fingerprint, for the given pairs already in the ledger."""
        if self._sql.postgresql:
            sources, keys = [], []
            for source, key in pairs:
                sources.append(source)
                keys.append(key)
            self._pg_arrays()
            found_pg = self.connection.exec_driver_sql(
                _PG_STORED_FINGERPRINTS, (_TextArray(sources), _TextArray(keys))
            )
            return {(str(s), str(k)): str(f) for s, k, f in found_pg}
        by_source: dict[str, list[str]] = defaultdict(list)
        for source, key in pairs:
            by_source[source].append(key)
        return {
            (source, key): fingerprint
            for source, keys in by_source.items()
            for key, fingerprint in self._stored_keys_of(source, keys).items()
        }

    def _stored_keys_of(self, source: str, keys: Sequence[str]) -> dict[str, str]:
        """SQLite: the stored fingerprint of every key of ``source`` among ``keys`` (a statement
        a source costs no round trip there)."""
        driver = self._sqlite_in_transaction()
        if driver is not None:
            stored = self._driver_run(
                driver, _SQLITE_EXISTING_KEYS, (source, json.dumps(list(keys)))
            )
            return dict(stored.fetchall())
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self.connection.execute(
                select(
                    ledger_transactions.c.idempotency_key, ledger_transactions.c.fingerprint
                ).where(
                    ledger_transactions.c.source == source,
                    ledger_transactions.c.idempotency_key.in_(chunk),
                )
            )
            found.update({str(key): str(fingerprint) for key, fingerprint in rows})
        return found

    def find_transaction(self, source: str, key: str) -> PostedTransaction | None:
        row = self.connection.execute(
            select(ledger_transactions).where(
                ledger_transactions.c.source == source,
                ledger_transactions.c.idempotency_key == key,
            )
        ).first()
        return self._with_postings(row) if row else None

    def transaction(self, transaction_id: int) -> PostedTransaction | None:
        row = self.connection.execute(
            select(ledger_transactions).where(ledger_transactions.c.id == transaction_id)
        ).first()
        return self._with_postings(row) if row else None

    def reversal_of(self, transaction_id: int) -> PostedTransaction | None:
        row = self.connection.execute(
            select(ledger_transactions).where(ledger_transactions.c.reverses_id == transaction_id)
        ).first()
        return self._with_postings(row) if row else None

    def _with_postings(self, row: sa.Row[tuple[object, ...]]) -> PostedTransaction:
        legs = self.connection.execute(
            select(postings.c.account_id, postings.c.amount)
            .where(postings.c.transaction_id == row.id)
            .order_by(postings.c.id)
        )
        return PostedTransaction(
            id=row.id,
            kind=row.kind,
            source=row.source,
            idempotency_key=row.idempotency_key,
            reference=row.reference,
            fingerprint=row.fingerprint,
            created_at=row.created_at,
            reverses_id=row.reverses_id,
            postings=tuple(Posting(int(a), int(m)) for a, m in legs),
        )

    def postings_of_account(
        self, account_id: int, *, limit: int = 50, before_id: int | None = None
    ) -> list[tuple[int, int, str, str, int, datetime]]:
        """Newest first: (posting id, transaction id, kind, reference, amount, created_at)."""
        query = (
            select(
                postings.c.id,
                ledger_transactions.c.id,
                ledger_transactions.c.kind,
                ledger_transactions.c.reference,
                postings.c.amount,
                ledger_transactions.c.created_at,
            )
            .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .where(postings.c.account_id == account_id)
            .order_by(postings.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(postings.c.id < before_id)
        return [tuple(row) for row in self.connection.execute(query)]

    # -- audit ----------------------------------------------------------------------------
    def audit_figures(self) -> AuditFigures:
        conn = self.connection
        sums = (
            select(
                postings.c.transaction_id,
                func.sum(postings.c.amount).label("total"),
                func.count().label("legs"),
            )
            .group_by(postings.c.transaction_id)
            .subquery()
        )
        unbalanced = conn.execute(
            select(sums.c.transaction_id, sums.c.total).where(sums.c.total != 0)
        ).all()
        short = (
            conn.execute(
                select(ledger_transactions.c.id)
                .outerjoin(sums, sums.c.transaction_id == ledger_transactions.c.id)
                .where(sa.or_(sums.c.legs.is_(None), sums.c.legs < 2))
            )
            .scalars()
            .all()
        )
        per_account = (
            select(postings.c.account_id, func.sum(postings.c.amount).label("total"))
            .group_by(postings.c.account_id)
            .subquery()
        )
        posted = func.coalesce(per_account.c.total, 0)
        drifted = conn.execute(
            select(accounts.c.code, accounts.c.balance, posted)
            .outerjoin(per_account, per_account.c.account_id == accounts.c.id)
            .where(accounts.c.balance != posted)
        ).all()
        below = conn.execute(
            select(accounts.c.code, accounts.c.balance, accounts.c.floor).where(
                accounts.c.floor.is_not(None), accounts.c.balance < accounts.c.floor
            )
        ).all()
        orphans = conn.execute(
            select(postings.c.id, postings.c.transaction_id, postings.c.account_id)
            .outerjoin(accounts, accounts.c.id == postings.c.account_id)
            .outerjoin(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .where(sa.or_(accounts.c.id.is_(None), ledger_transactions.c.id.is_(None)))
            .order_by(postings.c.id)
            .limit(ORPHANS_SHOWN)
        ).all()
        return AuditFigures(
            transactions=conn.execute(
                select(func.count()).select_from(ledger_transactions)
            ).scalar_one(),
            postings=conn.execute(select(func.count()).select_from(postings)).scalar_one(),
            accounts=conn.execute(select(func.count()).select_from(accounts)).scalar_one(),
            unbalanced_transactions=[(int(t), int(s)) for t, s in unbalanced],
            short_transactions=[int(t) for t in short],
            drifted_accounts=[(c, int(b), int(p)) for c, b, p in drifted],
            below_floor=[(c, int(b), int(f)) for c, b, f in below],
            total_balance=int(
                conn.execute(select(func.coalesce(func.sum(accounts.c.balance), 0))).scalar_one()
            ),
            orphan_postings=[(int(p), int(t), int(a)) for p, t, a in orphans],
        )


def _account(row: sa.Row[tuple[object, ...]]) -> Account:
    return Account(
        id=int(row.id),
        code=str(row.code),
        kind=str(row.kind),
        balance=int(row.balance),
        floor=None if row.floor is None else int(row.floor),
    )
