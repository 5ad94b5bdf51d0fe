"""A process posting ledger transfers on one SQLite file: the subject of the writer-gate test.

Usage: ``python gate_worker.py DATABASE_URL NAME THREADS TRANSFERS DEBIT_ID CREDIT_ID``

SQLite's busy timeout is set to 0, so any moment when this process found the file locked by
another writer fails at once with "database is locked" instead of waiting: the writer gate alone
must keep the processes apart. Prints ``ready`` and waits for a line on stdin (so several
workers start together), then posts ``TRANSFERS`` one-commit transfers of 1 tiyn in each of
``THREADS`` threads and prints ``posted N``.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from sqlalchemy import event

from abonent.core.clock import SystemClock
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import transfer_request


def main(url: str, name: str, threads: int, transfers: int, debit: int, credit: int) -> None:
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    db = Database(engine, SystemClock())
    posted = [0] * threads
    failures: list[BaseException] = []

    def client(index: int) -> None:
        try:
            for n in range(transfers):
                request = transfer_request(
                    kind="transfer",
                    source="gate-test",
                    idempotency_key=f"{name}-{index}-{n}",
                    debit_account_id=debit,
                    credit_account_id=credit,
                    amount=1,
                )
                ledger.post(db, request)
                posted[index] += 1
        except BaseException as exc:
            failures.append(exc)

    print("ready", flush=True)
    sys.stdin.readline()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    engine.dispose()
    for failure in failures:
        print(f"failed {failure!r}", flush=True)
    print(f"posted {sum(posted)}", flush=True)


if __name__ == "__main__":
    url, name, *numbers = sys.argv[1:]
    threads, transfers, debit, credit = map(int, numbers)
    main(url, name, threads, transfers, debit, credit)
