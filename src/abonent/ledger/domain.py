"""Ledger rules, free of storage: what a valid transaction is, how a reversal looks.

Invariants (checked here before anything is written, and again by ``abonent audit``):
- a transaction has at least two postings, each a non-zero integer number of tiyn;
- its postings sum to exactly zero;
- it is immutable: a correction is a new transaction that reverses it;
- (source, idempotency_key) identifies it: a repeat returns it instead of posting again, and a
  repeat that asks for something else (another fingerprint) is an ``IdempotencyConflict``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from abonent.core.errors import Conflict, InvalidAmount, NotFound, ValidationError
from abonent.core.money import Tiyn, require_positive_tiyn, require_tiyn

MAX_KEY_LENGTH = 160
MAX_SOURCE_LENGTH = 60


class AccountKind:
    """Kinds of ledger accounts. Subscriber balances have floors; system accounts do not."""

    SUBSCRIBER_MAIN = "subscriber_main"
    AGENT_CLEARING = "agent_clearing"
    VOUCHER_LIABILITY = "voucher_liability"
    REVENUE = "revenue"
    CREDIT_RECEIVABLE = "credit_receivable"
    FEES = "fees"
    WRITE_OFF = "write_off"
    OPENING_BALANCE = "opening_balance"
    CARD_CLEARING = "card_clearing"
    CASH_CLEARING = "cash_clearing"
    SUSPENSE = "suspense"


class UnknownAccount(NotFound):
    """A posting names an account that does not exist (``details["account_ids"]``)."""


class AlreadyReversed(Conflict):
    """The transaction was already reversed by another request (a different key)."""

    code = "already_reversed"


def subscriber_account_code(msisdn: str) -> str:
    return f"subscriber:{msisdn}:main"


def system_account_code(kind: str, name: str = "main") -> str:
    return f"system:{kind}:{name}"


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    amount: Tiyn


@dataclass(frozen=True, slots=True)
class TransactionRequest:
    """What a use case asks the ledger to record."""

    kind: str
    source: str
    idempotency_key: str
    postings: tuple[Posting, ...]
    reference: str = ""
    reverses_id: int | None = None
    # Hash of what the request asks for, computed once: a repeat with another is a conflict.
    fingerprint: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        # Runs for every money movement (a million times in a renewal run), so it is written
        # for speed: one pass over the postings, exact ints checked by type first.
        if not self.kind or len(self.kind) > 40:
            raise ValidationError("transaction kind is required (at most 40 characters)")
        if not self.source or len(self.source) > MAX_SOURCE_LENGTH:
            raise ValidationError("idempotency source is required (at most 60 characters)")
        if not self.idempotency_key or len(self.idempotency_key) > MAX_KEY_LENGTH:
            raise ValidationError("idempotency key is required (at most 160 characters)")
        postings = self.postings
        if len(postings) < 2:
            raise ValidationError("a transaction needs at least two postings")
        total = 0
        for posting in postings:
            amount = posting.amount
            if amount.__class__ is not int:
                require_tiyn(amount)  # refuses floats, bools and strings; int subclasses pass
            if not amount:
                raise InvalidAmount("a posting cannot be zero")
            total += amount
        if total:
            raise ValidationError("postings must sum to zero")
        object.__setattr__(self, "fingerprint", _fingerprint(self))

    def net_by_account(self) -> dict[int, Tiyn]:
        """Net change per account, in ascending account order (the lock order)."""
        postings = self.postings
        if len(postings) == 2:  # a transfer: two non-zero legs, their own nets unless one account
            first, second = postings
            if first.account_id < second.account_id:
                return {first.account_id: first.amount, second.account_id: second.amount}
            if second.account_id < first.account_id:
                return {second.account_id: second.amount, first.account_id: first.amount}
        net: dict[int, Tiyn] = defaultdict(int)
        for posting in self.postings:
            net[posting.account_id] += posting.amount
        return {account: net[account] for account in sorted(net) if net[account] != 0}


def _leg(posting: Posting) -> tuple[int, int]:
    return (posting.account_id, posting.amount)


def _fingerprint(request: TransactionRequest) -> str:
    """Hash of what the request asks for: kind, legs in (account, amount) order, reversed id.

    Stored with every transaction and compared with every repeat, so the text must never change.
    """
    postings = request.postings
    if len(postings) == 2:  # the common transfer: no sort needed
        first, second = postings
        if (second.account_id, second.amount) < (first.account_id, first.amount):
            first, second = second, first
        legs = f"{first.account_id}:{first.amount},{second.account_id}:{second.amount}"
    else:
        legs = ",".join(f"{p.account_id}:{p.amount}" for p in sorted(postings, key=_leg))
    text = f"{request.kind}|{legs}|{request.reverses_id or ''}"
    return hashlib.sha256(text.encode()).hexdigest()


def transfer_request(
    *,
    kind: str,
    source: str,
    idempotency_key: str,
    debit_account_id: int,
    credit_account_id: int,
    amount: Tiyn,
    reference: str = "",
) -> TransactionRequest:
    """Move ``amount`` from one account to another: the common two-leg case."""
    require_positive_tiyn(amount)
    if debit_account_id == credit_account_id:
        raise ValidationError("a transfer needs two different accounts")
    # Positional: keyword calls of a frozen dataclass cost visibly in a group commit's CPU.
    return TransactionRequest(
        kind,
        source,
        idempotency_key,
        (Posting(debit_account_id, -amount), Posting(credit_account_id, amount)),
        reference,
    )


@dataclass(frozen=True, slots=True)
class PostedTransaction:
    id: int
    kind: str
    source: str
    idempotency_key: str
    reference: str
    fingerprint: str
    created_at: datetime
    postings: tuple[Posting, ...]
    reverses_id: int | None = None
    # True when this answer is the stored result of an earlier identical request.
    replayed: bool = field(default=False, compare=False)

    def amount_for(self, account_id: int) -> Tiyn:
        return sum(p.amount for p in self.postings if p.account_id == account_id)


def reversal_request(
    original: PostedTransaction, *, source: str, idempotency_key: str, reference: str = ""
) -> TransactionRequest:
    """The transaction that undoes ``original`` exactly: every posting negated."""
    return TransactionRequest(
        kind="reversal",
        source=source,
        idempotency_key=idempotency_key,
        postings=tuple(Posting(p.account_id, -p.amount) for p in original.postings),
        reference=reference or f"reversal of {original.id}",
        reverses_id=original.id,
    )


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    code: str
    kind: str
    balance: Tiyn
    floor: Tiyn | None

    @property
    def available(self) -> Tiyn | None:
        """How much can still be debited, or None for an account without a floor."""
        return None if self.floor is None else self.balance - self.floor


def check_floor(balance: Tiyn, floor: Tiyn | None, delta: Tiyn) -> bool:
    """Whether applying ``delta`` keeps the balance at or above its floor.

    Credits are always allowed, even to an account that sits below its floor (a forced debit
    may have put it there), because they can only bring it closer to allowed.
    """
    return delta >= 0 or floor is None or balance + delta >= floor
