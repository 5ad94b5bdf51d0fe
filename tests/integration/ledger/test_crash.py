"""Kill -9 a process in the middle of payments, several times, on SQLite and PostgreSQL.

After each kill the worker is restarted and first repeats the operation it was in (as a client
retries an unanswered request). At the end ``abonent audit`` passes, every acknowledged key is
stored exactly once, nothing refused is stored, and nothing is stored that was never tried.
"""

from __future__ import annotations

import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from abonent.db.uow import Database
from abonent.ledger.domain import AccountKind
from abonent.ledger.tables import ledger_transactions
from abonent.payments.tables import payments
from tests.factories import add_subscriber, system_account
from tests.integration.cli.run import abonent_env, run_abonent
from tests.integration.ledger import crash_worker
from tests.integration.ledger.crash_worker import MSISDNS, TOPUP_SOURCE, TRANSFER_SOURCE, plan

pytestmark = [pytest.mark.storage, pytest.mark.slow]

WORKER = Path(crash_worker.__file__)
KILLS = 4
# Generous: the worker only has to start and make a few payments on a busy 2-core machine.
PATIENCE_SECONDS = 90


class Worker:
    """One run of the worker process, with its output read line by line as it comes."""

    def __init__(self, database_url: str, run: int, max_ops: int, retry: str | None) -> None:
        args = [str(WORKER), database_url, str(run), str(max_ops)]
        if retry:
            args += retry.split(":")
        self.process = subprocess.Popen(
            [sys.executable, *args],
            env=abonent_env(database_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.endswith("\n"):  # a line cut by the kill is not an acknowledgement
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until_acks(self, wanted: int) -> list[str]:
        """Lines until ``wanted`` acknowledgements (``ok``/``refused``) were seen."""
        seen: list[str] = []
        deadline = time.monotonic() + PATIENCE_SECONDS
        acks = 0
        while acks < wanted:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"worker ended early: {self.stderr()}")
            seen.append(line)
            acks += line.split()[0] in {"ok", "refused"}
        return seen

    def kill(self) -> list[str]:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=PATIENCE_SECONDS)
        return self.rest()

    def finish(self) -> list[str]:
        code = self.process.wait(timeout=PATIENCE_SECONDS)
        lines = self.rest()
        assert code == 0, self.stderr()
        return lines

    def rest(self) -> list[str]:
        """The lines not read yet, once the process has ended; closes its pipes."""
        self._reader.join(timeout=PATIENCE_SECONDS)
        lines = []
        while (line := self.lines.get_nowait()) is not None:
            lines.append(line)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return lines

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        if not hasattr(self, "_stderr"):
            self.rest()
        return self._stderr[-3000:]


def in_flight(lines: list[str]) -> str | None:
    """The operation that was started but not finished when the process died."""
    started = [line.split()[1] for line in lines if line.startswith("try ")]
    finished = {line.split()[1] for line in lines if line.startswith("done ")}
    unfinished = [op for op in started if op not in finished]
    assert len(unfinished) <= 1, unfinished
    return unfinished[0] if unfinished else None


def stored_keys(db: Database) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    with db.reading() as uow:
        ledger_keys = Counter(
            (str(s), str(k))
            for s, k in uow.connection.execute(
                sa.select(ledger_transactions.c.source, ledger_transactions.c.idempotency_key)
            )
        )
        payment_keys = Counter(
            str(k)
            for k in uow.connection.execute(
                sa.select(payments.c.external_id).where(payments.c.source == TOPUP_SOURCE)
            ).scalars()
        )
    return ledger_keys, payment_keys


def test_killed_payment_process_loses_nothing_acknowledged(db: Database, database_url: str) -> None:
    # Given five subscribers with money and an agent's clearing account
    for msisdn in MSISDNS:
        add_subscriber(db, msisdn[2:], balance=50_000)
    system_account(db, AccountKind.AGENT_CLEARING, "CRASH")
    rng = random.Random(20260115)

    # When a worker doing top-ups and transfers is killed with SIGKILL at random moments,
    # and restarted each time (repeating the operation it was in the middle of)
    output: list[str] = []
    retry: str | None = None
    for run in range(KILLS):
        worker = Worker(database_url, run, max_ops=10_000, retry=retry)
        output += worker.read_until_acks(rng.randint(3, 30))
        time.sleep(rng.uniform(0, 0.03))
        output += worker.kill()
        retry = in_flight(output)
    last = Worker(database_url, KILLS, max_ops=5, retry=retry)
    output += last.finish()
    assert in_flight(output) is None

    # Then `abonent audit` passes
    audit = run_abonent(["audit"], database_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "audit OK" in audit.stdout

    # and every acknowledged key is stored exactly once, nothing refused is stored
    answers: dict[str, str] = {}
    for line in output:
        word, _, key = line.partition(" ")
        if word in {"ok", "refused"}:
            answers[key] = word  # a retried operation may answer again; the last answer counts
    tried = {
        (op.source, line.key)
        for entry in output
        if entry.startswith("try ")
        for op in [plan(*map(int, entry.split()[1].split(":")))]
        for line in op.lines
    }
    source_of = {key: source for source, key in tried}
    ledger_keys, payment_keys = stored_keys(db)
    acknowledged = [key for key, answer in answers.items() if answer == "ok"]
    assert len(acknowledged) >= KILLS * 3
    for key in acknowledged:
        assert ledger_keys[(source_of[key], key)] == 1, key
        if source_of[key] == TOPUP_SOURCE:
            assert payment_keys[key] == 1, key
    for key, answer in answers.items():
        if answer == "refused":
            assert (source_of[key], key) not in ledger_keys, key
    # and nothing is stored that the worker never tried
    crash_keys = {k for k in ledger_keys if k[0] in {TOPUP_SOURCE, TRANSFER_SOURCE}}
    assert crash_keys <= tried
    assert set(payment_keys) == {key for source, key in crash_keys if source == TOPUP_SOURCE}
