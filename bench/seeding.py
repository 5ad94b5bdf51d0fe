"""Bulk loading of benchmark numbers (untimed): accounts, subscribers, opening balances.

Benchmarks of features that work over many numbers (renewals, rating, bills) load them with
multi-row inserts rather than through the services, which would take longer than the run
being measured. Balances stay exact: an opening balance is one ledger transaction whose
postings are the subscribers' balances against one opening-balance system account, so
``audit_ledger`` holds before the timed part starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa

from abonent.ledger.domain import AccountKind, system_account_code
from abonent.ledger.tables import accounts, ledger_transactions, postings
from abonent.subscribers.tables import subscribers


def msisdn(n: int) -> str:
    """The bench's n-th number."""
    return f"+7707{n:07d}"


def insert_opening(conn: sa.Connection, total: int, at: datetime) -> int:
    """The opening-balance account and transaction of ``total`` tiyn handed out to numbers
    later (``insert_numbers(..., opening_transaction=...)``); returns the transaction id."""
    opening = conn.execute(
        accounts.insert().returning(accounts.c.id),
        {
            "code": system_account_code(AccountKind.OPENING_BALANCE, "bench"),
            "kind": AccountKind.OPENING_BALANCE,
            "balance": -total,
            "floor": None,
            "created_at": at,
        },
    ).scalar_one()
    transaction_id = conn.execute(
        ledger_transactions.insert().returning(ledger_transactions.c.id),
        {
            "kind": "opening_balance",
            "source": "bench",
            "idempotency_key": "opening",
            "reference": "bench opening balances",
            "fingerprint": "bench",
            "reverses_id": None,
            "created_at": at,
        },
    ).scalar_one()
    conn.execute(
        postings.insert(),
        {"transaction_id": transaction_id, "account_id": opening, "amount": -total},
    )
    return int(transaction_id)


def insert_numbers(
    conn: sa.Connection,
    numbers: Sequence[int],
    *,
    balance_of: Callable[[int], int],
    floor: int,
    at: datetime,
    payment_type: str = "prepaid",
    name: str = "Bench",
    opening_transaction: int | None = None,
) -> tuple[list[int], list[int]]:
    """Main accounts (balance ``balance_of(n)``) and active subscribers for ``numbers``;
    with ``opening_transaction`` each balance is also posted from the opening balance.
    Returns (account ids, subscriber ids), in the order of ``numbers``."""
    account_ids = list(
        conn.execute(
            accounts.insert().returning(accounts.c.id, sort_by_parameter_order=True),
            [
                {
                    "code": f"subscriber:{msisdn(n)}:main",
                    "kind": AccountKind.SUBSCRIBER_MAIN,
                    "balance": balance_of(n),
                    "floor": floor,
                    "created_at": at,
                }
                for n in numbers
            ],
        ).scalars()
    )
    if opening_transaction is not None:
        conn.execute(
            postings.insert(),
            [
                {"transaction_id": opening_transaction, "account_id": aid, "amount": balance_of(n)}
                for n, aid in zip(numbers, account_ids, strict=True)
            ],
        )
    subscriber_ids = list(
        conn.execute(
            subscribers.insert().returning(subscribers.c.id, sort_by_parameter_order=True),
            [
                {
                    "msisdn": msisdn(n),
                    "name": name,
                    "iin": None,
                    "language": "ru",
                    "payment_type": payment_type,
                    "status": "active",
                    "brand_code": "tele2",
                    "account_id": aid,
                    "email": None,
                    "created_at": at,
                    "status_changed_at": at,
                }
                for n, aid in zip(numbers, account_ids, strict=True)
            ],
        ).scalars()
    )
    return [int(i) for i in account_ids], [int(i) for i in subscriber_ids]
