"""A process doing payments until it is killed: the subject of the crash test.

Usage: ``python crash_worker.py DATABASE_URL RUN MAX_OPS [RETRY_RUN RETRY_INDEX]``

Operation ``(run, index)`` is fully determined by its two numbers (see ``plan``): a top-up
through ``abonent.payments.services.top_up``, a ledger transfer between two subscribers, or a
batch of transfers committed together. For each operation the worker prints, flushed:

    try RUN:INDEX          before it starts (so nothing can be stored that was never tried)
    ok KEY | refused KEY   only after the commit returned (the acknowledgement)
    done RUN:INDEX         when every key of the operation is answered

Given ``RETRY_RUN RETRY_INDEX`` it first repeats that operation with the same keys, as a client
does after a crash: whatever was committed before must replay, not move money twice.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from abonent.bootstrap import build
from abonent.core.errors import InsufficientFunds
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import (
    AccountKind,
    TransactionRequest,
    system_account_code,
    transfer_request,
)
from abonent.payments.domain import Channel, TopUpRequest
from abonent.payments.services import top_up
from abonent.settings import Settings

MSISDNS = ("+77070000001", "+77070000002", "+77070000003", "+77070000004", "+77070000005")
TOPUP_SOURCE = "agent:CRASH"
TRANSFER_SOURCE = "crash"
CLEARING_CODE = system_account_code(AccountKind.AGENT_CLEARING, "CRASH")


@dataclass(frozen=True)
class Line:
    key: str
    msisdn: str
    to: str
    amount: int


@dataclass(frozen=True)
class Operation:
    kind: str  # "topup", "transfer" or "batch"
    lines: tuple[Line, ...]

    @property
    def source(self) -> str:
        return TOPUP_SOURCE if self.kind == "topup" else TRANSFER_SOURCE


def plan(run: int, index: int) -> Operation:
    """The operation number ``index`` of run ``run``, the same every time it is asked for."""
    rng = random.Random(f"{run}:{index}")
    kind = rng.choice(["topup", "topup", "transfer", "transfer", "batch"])
    count = rng.randint(2, 12) if kind == "batch" else 1
    lines = []
    for j in range(count):
        payer, payee = rng.sample(MSISDNS, 2)
        key = f"r{run}-{index}" + (f"-{j}" if kind == "batch" else "")
        lines.append(Line(key, payer, payee, rng.randint(1, 40_000)))
    return Operation(kind, tuple(lines))


def say(*words: object) -> None:
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def perform(db: Database, accounts: dict[str, int], run: int, index: int) -> None:
    op = plan(run, index)
    say("try", f"{run}:{index}")
    if op.kind == "topup":
        line = op.lines[0]
        top_up(
            db,
            TopUpRequest(
                msisdn=line.msisdn,
                amount=line.amount,
                channel=Channel.AGENT,
                source=TOPUP_SOURCE,
                external_id=line.key,
                clearing_account_id=accounts[CLEARING_CODE],
            ),
        )
        say("ok", line.key)
    elif op.kind == "transfer":
        line = op.lines[0]
        try:
            ledger.post(db, _transfer(accounts, line))
        except InsufficientFunds:
            say("refused", line.key)
        else:
            say("ok", line.key)
    else:
        with db.uow() as uow:
            outcomes = ledger.record_batch(uow, [_transfer(accounts, line) for line in op.lines])
            uow.commit()
        for line, outcome in zip(op.lines, outcomes, strict=True):
            say("ok" if outcome.posted or outcome.replayed else "refused", line.key)
    say("done", f"{run}:{index}")


def _transfer(accounts: dict[str, int], line: Line) -> TransactionRequest:
    return transfer_request(
        kind="transfer",
        source=TRANSFER_SOURCE,
        idempotency_key=line.key,
        debit_account_id=accounts[line.msisdn],
        credit_account_id=accounts[line.to],
        amount=line.amount,
    )


def main(argv: list[str]) -> int:
    url, run, max_ops = argv[0], int(argv[1]), int(argv[2])
    container = build(Settings(database_url=url, mode="test", log_json=False))
    db = container.db
    with db.reading() as uow:
        clearing = uow.ledger.account_by_code(CLEARING_CODE)
        assert clearing is not None, "the test creates the clearing account"
        accounts = {CLEARING_CODE: clearing.id}
        for msisdn in MSISDNS:
            subscriber = uow.subscribers.by_msisdn(msisdn)
            assert subscriber is not None, "the test creates the subscribers"
            accounts[msisdn] = subscriber.account_id
    if len(argv) == 5:
        perform(db, accounts, int(argv[3]), int(argv[4]))
    for index in range(max_ops):
        perform(db, accounts, run, index)
    container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
