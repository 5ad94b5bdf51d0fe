"""The ledger against a model, driven by hypothesis: random deposits, charges, transfers,
multi-leg top-ups, reversals, batches and repeated idempotency keys, on SQLite and PostgreSQL.

After every step: every transaction sums to zero, every stored balance equals the sum of its
postings and the model's balance, no balance is below its floor, and the stored keys are exactly
the ones the model saw accepted (so a repeated key moved money once and a refused request left
nothing behind).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from abonent.core.errors import IdempotencyConflict, InsufficientFunds
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import (
    AccountKind,
    AlreadyReversed,
    Posting,
    TransactionRequest,
    transfer_request,
)
from abonent.ledger.tables import accounts, ledger_transactions, postings
from tests.conftest import reset_database
from tests.factories import floored_account, system_account

pytestmark = pytest.mark.storage

SOURCE = "tests"
# Four prepaid wallets (floor 0) and one postpaid wallet allowed down to -200 tenge.
WALLET_FLOORS = (0, 0, 0, 0, -20_000)
amounts = st.one_of(st.integers(1, 100), st.integers(1, 30_000))
picks = st.integers(0, 10_000)

STATE_MACHINE_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Stored:
    """What the model knows of a transaction the ledger accepted."""

    id: int
    request: TransactionRequest


def allows(balances: dict[int, int], floors: dict[int, int | None], r: TransactionRequest) -> bool:
    """The floor rule, written independently of the ledger: debits may not cross a floor."""
    net: dict[int, int] = {}
    for p in r.postings:
        net[p.account_id] = net.get(p.account_id, 0) + p.amount
    return all(
        delta >= 0 or floors[a] is None or balances[a] + delta >= floors[a]  # type: ignore[operator]
        for a, delta in net.items()
    )


def apply(balances: dict[int, int], r: TransactionRequest) -> None:
    for p in r.postings:
        balances[p.account_id] += p.amount


def make_machine(db: Database) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        @initialize()
        def fresh_ledger(self) -> None:
            reset_database(db.engine)
            self.bank = system_account(db, AccountKind.OPENING_BALANCE)
            self.revenue = system_account(db, AccountKind.REVENUE)
            self.wallets = [
                floored_account(db, f"wallet{i}", floor) for i, floor in enumerate(WALLET_FLOORS)
            ]
            self.floors: dict[int, int | None] = {self.bank: None, self.revenue: None}
            self.floors.update(zip(self.wallets, WALLET_FLOORS, strict=True))
            self.balances = dict.fromkeys(self.floors, 0)
            self.stored: dict[str, Stored] = {}  # key -> accepted transaction
            self.by_id: dict[int, Stored] = {}
            self.refused: list[TransactionRequest] = []  # keys never consumed
            self.reversed: set[int] = set()
            self.keys = itertools.count(1)

        # -- helpers ----------------------------------------------------------------------
        def new_key(self, prefix: str) -> str:
            return f"{prefix}-{next(self.keys)}"

        def wallet(self, pick: int) -> int:
            return self.wallets[pick % len(self.wallets)]

        def other_wallet(self, first: int, pick: int) -> int:
            others = [w for w in self.wallets if w != first]
            return others[pick % len(others)]

        def transfer(self, kind: str, src: int, dst: int, amount: int) -> TransactionRequest:
            return transfer_request(
                kind=kind,
                source=SOURCE,
                idempotency_key=self.new_key(kind),
                debit_account_id=src,
                credit_account_id=dst,
                amount=amount,
            )

        def accept(self, transaction_id: int, request: TransactionRequest) -> None:
            stored = Stored(transaction_id, request)
            self.stored[request.idempotency_key] = stored
            self.by_id[transaction_id] = stored
            apply(self.balances, request)
            if request.reverses_id is not None:
                self.reversed.add(request.reverses_id)

        def post_and_check(self, request: TransactionRequest) -> None:
            """Post a request with a fresh key: accepted iff the model's floors allow it."""
            if allows(self.balances, self.floors, request):
                posted = ledger.post(db, request)
                assert not posted.replayed
                assert posted.postings == request.postings
                self.accept(posted.id, request)
                event(f"{request.kind}: posted")
            else:
                with pytest.raises(InsufficientFunds):
                    ledger.post(db, request)
                self.refused.append(request)
                event(f"{request.kind}: refused by a floor")

        # -- single transactions ----------------------------------------------------------
        @rule(to=picks, amount=amounts)
        def deposit(self, to: int, amount: int) -> None:
            self.post_and_check(self.transfer("deposit", self.bank, self.wallet(to), amount))

        @rule(payer=picks, amount=amounts)
        def charge(self, payer: int, amount: int) -> None:
            self.post_and_check(self.transfer("charge", self.wallet(payer), self.revenue, amount))

        @rule(payer=picks)
        def charge_down_to_the_floor_exactly(self, payer: int) -> None:
            wallet = self.wallet(payer)
            floor = self.floors[wallet]
            assert floor is not None
            if self.balances[wallet] > floor:
                self.post_and_check(
                    self.transfer("charge", wallet, self.revenue, self.balances[wallet] - floor)
                )

        @rule(src=picks, dst=picks, amount=amounts)
        def transfer_between_wallets(self, src: int, dst: int, amount: int) -> None:
            source = self.wallet(src)
            self.post_and_check(
                self.transfer("transfer", source, self.other_wallet(source, dst), amount)
            )

        @rule(to=picks, amount=st.integers(2, 30_000), fee=st.integers(1, 500))
        def top_up_with_fee(self, to: int, amount: int, fee: int) -> None:
            fee = min(fee, amount - 1)
            self.post_and_check(
                TransactionRequest(
                    kind="topup_with_fee",
                    source=SOURCE,
                    idempotency_key=self.new_key("topup"),
                    postings=(
                        Posting(self.bank, -amount),
                        Posting(self.wallet(to), amount - fee),
                        Posting(self.revenue, fee),
                    ),
                )
            )

        @precondition(lambda self: bool(self.by_id))
        @rule(pick=picks)
        def reverse(self, pick: int) -> None:
            ids = sorted(self.by_id)
            target = self.by_id[ids[pick % len(ids)]]
            key = self.new_key("reversal")
            if target.id in self.reversed:
                with pytest.raises(AlreadyReversed):
                    ledger.reverse(db, target.id, source=SOURCE, idempotency_key=key, reason="x")
                event("reversal: already reversed")
                return
            undo = TransactionRequest(
                kind="reversal",
                source=SOURCE,
                idempotency_key=key,
                postings=tuple(Posting(p.account_id, -p.amount) for p in target.request.postings),
                reverses_id=target.id,
            )
            if allows(self.balances, self.floors, undo):
                posted = ledger.reverse(
                    db, target.id, source=SOURCE, idempotency_key=key, reason=""
                )
                assert not posted.replayed and posted.reverses_id == target.id
                assert posted.fingerprint == undo.fingerprint
                self.accept(posted.id, undo)
                event("reversal: posted")
            else:
                with pytest.raises(InsufficientFunds):
                    ledger.reverse(db, target.id, source=SOURCE, idempotency_key=key, reason="")
                event("reversal: refused by a floor")

        # -- repeated keys ----------------------------------------------------------------
        @precondition(lambda self: bool(self.stored))
        @rule(pick=picks)
        def repeat_same_request(self, pick: int) -> None:
            keys = sorted(self.stored)
            earlier = self.stored[keys[pick % len(keys)]]
            request = earlier.request
            if request.reverses_id is not None:
                again = ledger.reverse(
                    db,
                    request.reverses_id,
                    source=SOURCE,
                    idempotency_key=request.idempotency_key,
                    reason="again",
                )
            else:
                again = ledger.post(db, request)
            assert again.replayed
            assert again.id == earlier.id
            assert again.fingerprint == request.fingerprint

        @precondition(lambda self: bool(self.stored))
        @rule(pick=picks, to=picks, amount=amounts)
        def repeat_key_with_another_request(self, pick: int, to: int, amount: int) -> None:
            keys = sorted(self.stored)
            key = keys[pick % len(keys)]
            other = transfer_request(
                kind="conflicting",  # no accepted request has this kind: always another request
                source=SOURCE,
                idempotency_key=key,
                debit_account_id=self.bank,
                credit_account_id=self.wallet(to),
                amount=amount,
            )
            with pytest.raises(IdempotencyConflict):
                ledger.post(db, other)

        @precondition(lambda self: bool(self.refused))
        @rule(pick=picks)
        def retry_refused_request(self, pick: int) -> None:
            request = self.refused.pop(pick % len(self.refused))
            if request.idempotency_key not in self.stored:  # a later batch line may have won it
                self.post_and_check(request)

        # -- batches ----------------------------------------------------------------------
        @rule(
            lines=st.lists(
                st.tuples(
                    st.sampled_from(["deposit", "charge", "transfer", "repeat", "repeat_changed"]),
                    picks,
                    picks,
                    amounts,
                ),
                min_size=1,
                max_size=8,
            )
        )
        def batch(self, lines: list[tuple[str, int, int, int]]) -> None:
            requests: list[TransactionRequest] = []
            for op, a, b, amount in lines:
                earlier = sorted(self.stored) + [r.idempotency_key for r in requests]
                if op.startswith("repeat") and earlier:
                    key = earlier[a % len(earlier)]
                    first = self.stored[key].request if key in self.stored else None
                    first = first or next(r for r in requests if r.idempotency_key == key)
                    if op == "repeat":
                        requests.append(first)
                    else:
                        requests.append(
                            transfer_request(
                                kind="conflicting",
                                source=SOURCE,
                                idempotency_key=key,
                                debit_account_id=self.bank,
                                credit_account_id=self.wallet(b),
                                amount=amount,
                            )
                        )
                elif op == "charge":
                    requests.append(self.transfer("charge", self.wallet(a), self.revenue, amount))
                elif op == "transfer":
                    src = self.wallet(a)
                    dst = self.other_wallet(src, b)
                    requests.append(self.transfer("transfer", src, dst, amount))
                else:
                    requests.append(self.transfer("deposit", self.bank, self.wallet(a), amount))

            # What the batch must do, line by line, against running balances.
            running = dict(self.balances)
            seen: dict[str, TransactionRequest] = {}
            expected: list[str] = []
            for r in requests:
                first = (
                    self.stored[r.idempotency_key].request
                    if r.idempotency_key in self.stored
                    else seen.get(r.idempotency_key)
                )
                if first is not None:
                    same = first.fingerprint == r.fingerprint
                    expected.append("repeat" if same else "conflict")
                elif allows(running, self.floors, r):
                    expected.append("posted")
                    seen[r.idempotency_key] = r
                    apply(running, r)
                else:
                    expected.append("refused")

            with db.uow() as uow:
                outcomes = ledger.record_batch(uow, requests)
                uow.commit()

            assert len(outcomes) == len(requests)
            for r, outcome, want in zip(requests, outcomes, expected, strict=True):
                event(f"batch line: {want}")
                assert outcome.request == r
                if want == "posted":
                    assert outcome.posted and outcome.transaction_id is not None
                    self.accept(outcome.transaction_id, r)
                elif want == "repeat":
                    assert not outcome.posted and outcome.replayed
                elif want == "conflict":
                    # The key came back with another request: refused, money moved once.
                    assert not outcome.posted and not outcome.replayed
                    assert isinstance(outcome.error, IdempotencyConflict)
                else:
                    assert not outcome.posted
                    assert isinstance(outcome.error, InsufficientFunds)
                    self.refused.append(r)
            assert running == self.balances

        # -- after every step -------------------------------------------------------------
        @invariant()
        def ledger_matches_model(self) -> None:
            with db.reading() as uow:
                conn = uow.connection
                stored_balances = {
                    a: int(b) for a, b in conn.execute(sa.select(accounts.c.id, accounts.c.balance))
                }
                posted_sums = {
                    a: int(total)
                    for a, total in conn.execute(
                        sa.select(postings.c.account_id, sa.func.sum(postings.c.amount)).group_by(
                            postings.c.account_id
                        )
                    )
                }
                unbalanced = conn.execute(
                    sa.select(postings.c.transaction_id)
                    .group_by(postings.c.transaction_id)
                    .having(sa.func.sum(postings.c.amount) != 0)
                ).all()
                keys = conn.execute(
                    sa.select(ledger_transactions.c.source, ledger_transactions.c.idempotency_key)
                ).all()
            assert unbalanced == []
            assert stored_balances == self.balances
            assert {a: posted_sums.get(a, 0) for a in self.balances} == self.balances
            for account, floor in self.floors.items():
                assert floor is None or self.balances[account] >= floor
            # Every accepted key is stored exactly once; nothing refused was left behind.
            assert sorted(keys) == sorted((SOURCE, key) for key in self.stored)
            report = ledger.audit_ledger(db)
            assert report.ok, report.problems
            assert report.figures.transactions == len(self.stored)

    return LedgerMachine


def test_random_operations_keep_the_ledger_exact_and_exactly_once(db: Database) -> None:
    run_state_machine_as_test(make_machine(db), settings=STATE_MACHINE_SETTINGS)
