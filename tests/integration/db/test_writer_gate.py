"""The SQLite writer gate keeps writers of one file apart across threads and processes.

Without it, a second process finds the file locked and SQLite's busy handler sleeps in
millisecond steps; the workers here run with a busy timeout of 0, so any such moment fails.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from abonent.core.clock import SystemClock
from abonent.db.engine import SQLITE_BUSY_TIMEOUT_MS, WriterGate, create_engine
from abonent.db.migrate import upgrade
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind
from abonent.ledger.tables import ledger_transactions
from tests.integration.cli.run import abonent_env
from tests.integration.db import gate_worker

WORKER = Path(gate_worker.__file__)
PATIENCE_SECONDS = 120
HOLDER = """
import fcntl, sys
with open(sys.argv[1], "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "gate.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


def _accounts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with Database(engine, SystemClock()).uow() as uow:
            now = uow.clock.now()
            debit, credit = (
                uow.ledger.create_account(f"system:test:{name}", AccountKind.SUSPENSE, None, now)
                for name in ("debit", "credit")
            )
            uow.commit()
    finally:
        engine.dispose()
    return debit, credit


def _start(args: list[str], url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        env=abonent_env(url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _expect(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    got = process.stdout.readline().strip()
    assert got == line, got + (process.stderr.read() if process.stderr else "")


def test_two_processes_write_one_file_without_finding_it_locked(sqlite_file: Path) -> None:
    # Given a SQLite file with two accounts, and two worker processes of two threads each
    url = f"sqlite:///{sqlite_file}"
    debit, credit = _accounts(url)
    transfers = 150
    args = ["2", str(transfers), str(debit), str(credit)]
    workers = [_start([str(WORKER), url, name, *args], url) for name in ("a", "b")]
    for worker in workers:
        _expect(worker, "ready")

    # When both post one-commit transfers at the same time, never waiting on SQLite's lock
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=PATIENCE_SECONDS) for worker in workers]

    # Then none found the file locked and every transfer is stored once
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert out.strip() == f"posted {2 * transfers}", out + err
    engine = create_engine(url)
    db = Database(engine, SystemClock())
    with db.reading() as uow:
        stored = uow.connection.execute(
            sa.select(sa.func.count()).select_from(ledger_transactions)
        ).scalar_one()
    assert stored == 2 * 2 * transfers
    assert ledger.audit_ledger(db).ok
    engine.dispose()


def test_gate_waits_for_another_process_and_gives_up_after_its_timeout(tmp_path: Path) -> None:
    # Given another process holding the gate's lock file
    database = tmp_path / "held.sqlite3"
    gate = WriterGate(database)
    holder = _start(["-c", HOLDER, str(database) + ".writer-lock"], "sqlite://")
    _expect(holder, "held")

    # When this process asks for the gate with a short timeout, twice
    # Then it goes on without it each time (and leaves its own threads' lock free)
    assert not gate.acquire(0.2)
    assert not gate.acquire(0.2)

    # When the other process lets go while a thread waits for the gate
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(gate.acquire(PATIENCE_SECONDS)))
    waiter.start()
    holder.communicate("\n", timeout=PATIENCE_SECONDS)
    waiter.join(timeout=PATIENCE_SECONDS)

    # Then the waiter gets it, and once released another process can take it at once
    assert got == [True]
    gate.release()
    taker = subprocess.run(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; fcntl.flock(open(sys.argv[1]), fcntl.LOCK_EX | fcntl.LOCK_NB)",
            str(database) + ".writer-lock",
        ],
        capture_output=True,
        text=True,
        timeout=PATIENCE_SECONDS,
        check=False,
    )
    assert taker.returncode == 0, taker.stderr
    assert gate.acquire(SQLITE_BUSY_TIMEOUT_MS / 1000)
    gate.release()


def test_gate_gives_up_quietly_when_the_caller_stopped_waiting(tmp_path: Path) -> None:
    # Given a thread that gave up on the gate while another process held it
    database = tmp_path / "abandoned.sqlite3"
    gate = WriterGate(database)
    holder = _start(["-c", HOLDER, str(database) + ".writer-lock"], "sqlite://")
    _expect(holder, "held")
    assert not gate.acquire(0.1)

    # When the other process lets go, and takes the lock again right away
    holder.communicate("\n", timeout=PATIENCE_SECONDS)
    again = _start(["-c", HOLDER, str(database) + ".writer-lock"], "sqlite://")

    # Then it gets it: nobody in this process kept the lock it no longer wanted
    _expect(again, "held")
    again.communicate("\n", timeout=PATIENCE_SECONDS)


@pytest.mark.parametrize("uri", [False, True])
def test_only_plain_database_files_get_a_lock_file(tmp_path: Path, uri: bool) -> None:
    path = tmp_path / "plain.sqlite3"
    url = f"sqlite:///file:{path}?mode=rwc&uri=true" if uri else f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert (tmp_path / "plain.sqlite3.writer-lock").exists() is not uri
