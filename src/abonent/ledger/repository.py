"""Ledger storage: a Protocol for services, and its SQL implementation (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import bindparam, func, select

from abonent.core.money import Tiyn
from abonent.ledger.domain import Account, PostedTransaction, Posting, TransactionRequest
from abonent.ledger.tables import accounts, ledger_transactions, postings


class LedgerRepository(Protocol):
    def create_account(self, code: str, kind: str, floor: Tiyn | None, now: datetime) -> int: ...
    def account_by_code(self, code: str) -> Account | None: ...
    def account(self, account_id: int) -> Account | None: ...
    def find_transaction(self, source: str, key: str) -> PostedTransaction | None: ...
    def transaction(self, transaction_id: int) -> PostedTransaction | None: ...
    def insert_transaction(self, request: TransactionRequest, now: datetime) -> int: ...
    def apply_delta(self, account_id: int, delta: Tiyn) -> bool: ...


# Statements built once; SQLAlchemy caches their compiled form.
_CREDIT = (
    accounts.update()
    .where(accounts.c.id == bindparam("aid"))
    .values(balance=accounts.c.balance + bindparam("delta"))
)
_GUARDED_DEBIT = (
    accounts.update()
    .where(accounts.c.id == bindparam("aid"))
    .where(
        sa.or_(
            accounts.c.floor.is_(None), accounts.c.balance + bindparam("delta") >= accounts.c.floor
        )
    )
    .values(balance=accounts.c.balance + bindparam("delta"))
)
_INSERT_TRANSACTION = ledger_transactions.insert().returning(ledger_transactions.c.id)
_INSERT_POSTINGS = postings.insert()


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


class SqlLedgerRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

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
        """Read (and on PostgreSQL lock, in id order) the given accounts."""
        query = select(accounts).where(accounts.c.id.in_(sorted(set(ids)))).order_by(accounts.c.id)
        if lock:
            query = query.with_for_update()
        return {row.id: _account(row) for row in self.connection.execute(query)}

    def set_floor(self, account_id: int, floor: Tiyn | None) -> None:
        self.connection.execute(
            accounts.update().where(accounts.c.id == account_id).values(floor=floor)
        )

    def apply_delta(self, account_id: int, delta: Tiyn) -> bool:
        """Add ``delta`` to the balance; a debit only if the floor allows. False if refused."""
        statement = _CREDIT if delta >= 0 else _GUARDED_DEBIT
        result = self.connection.execute(statement, {"aid": account_id, "delta": delta})
        return result.rowcount == 1

    def apply_deltas_unguarded(self, deltas: dict[int, Tiyn]) -> None:
        """Apply precomputed net deltas (the caller already checked floors under lock)."""
        if deltas:
            self.connection.execute(
                _CREDIT, [{"aid": aid, "delta": delta} for aid, delta in sorted(deltas.items())]
            )

    # -- transactions ---------------------------------------------------------------------
    def insert_transaction(self, request: TransactionRequest, now: datetime) -> int:
        transaction_id = int(
            self.connection.execute(
                _INSERT_TRANSACTION,
                {
                    "kind": request.kind,
                    "source": request.source,
                    "idempotency_key": request.idempotency_key,
                    "reference": request.reference,
                    "fingerprint": request.fingerprint,
                    "reverses_id": request.reverses_id,
                    "created_at": now,
                },
            ).scalar_one()
        )
        self.connection.execute(
            _INSERT_POSTINGS,
            [
                {"transaction_id": transaction_id, "account_id": p.account_id, "amount": p.amount}
                for p in request.postings
            ],
        )
        return transaction_id

    def insert_transactions(
        self, requests: Sequence[TransactionRequest], now: datetime
    ) -> list[int]:
        """Insert many transactions and their postings with two bulk statements."""
        if not requests:
            return []
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

    def existing_keys(self, source: str, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found.update(
                self.connection.execute(
                    select(ledger_transactions.c.idempotency_key).where(
                        ledger_transactions.c.source == source,
                        ledger_transactions.c.idempotency_key.in_(chunk),
                    )
                ).scalars()
            )
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
        )


def _account(row: sa.Row[tuple[object, ...]]) -> Account:
    return Account(
        id=int(row.id),
        code=str(row.code),
        kind=str(row.kind),
        balance=int(row.balance),
        floor=None if row.floor is None else int(row.floor),
    )
