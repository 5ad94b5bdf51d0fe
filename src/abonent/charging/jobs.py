"""Scheduled work: ``abonent jobs run-due`` and the scheduler inside ``abonent serve``.

``DUE_JOBS`` is a registry: each entry is (name, job) where a job takes the container and the
moment to act as of (``--now`` lets an operator catch up or replay a moment) and returns a
one-line summary. Jobs must be idempotent: running them twice for the same moment does
nothing the second time.
"""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO, cast

import structlog

from abonent.bootstrap import Container
from abonent.core.errors import AbonentError

DueJob = Callable[[Container, datetime], str]
log = structlog.get_logger("abonent.jobs")


def _renewals(container: Container, now: datetime) -> str:
    from abonent.charging.services import run_renewals

    report = run_renewals(container.db, now)
    return (
        f"renewals: {report.renewed} renewed, {report.lapsed} lapsed (short of money), "
        f"{report.ended} ended, {report.charged / 100:.2f} ₸ charged"
    )


def _statement_emails(container: Container, now: datetime) -> str:
    from abonent.statements.email import deliver_pending_emails, sender_from_settings

    sender = sender_from_settings(container.settings)
    if sender is None:
        return "e-mails: SMTP not configured (ABONENT_SMTP_HOST), left in the outbox"
    sent, failed = deliver_pending_emails(container.db, sender, now=now)
    return f"e-mails: {sent} sent, {failed} failed (will retry)"


def _credit_deadlines(container: Container, now: datetime) -> str:
    # Deadlines are judged by the container's clock (``now`` only steers the renewals' moment).
    from abonent.credit.services import run_deadlines

    outcomes = run_deadlines(container.db)
    barred = sum(1 for o in outcomes if o.barred)
    return f"trust credit: {len(outcomes)} past their deadline debited, {barred} barred"


def _overdue_bills(container: Container, now: datetime) -> str:
    from abonent.bills.services import BillingPolicy, check_overdue

    report = check_overdue(
        container.db, BillingPolicy.from_settings(container.settings), actor="system:jobs"
    )
    return f"bills: {report.marked_overdue} became overdue, {len(report.barred)} barred"


DUE_JOBS: list[tuple[str, DueJob]] = [
    ("renewals", _renewals),
    ("trust credit deadlines", _credit_deadlines),
    ("overdue bills", _overdue_bills),
    ("statement e-mails", _statement_emails),
]


def _deliver_sms(container: Container) -> str:
    from abonent.sms.adapters import SmsAdapter, build_adapter
    from abonent.sms.services import deliver_pending
    from abonent.ussd.config import channel_settings_of

    settings = channel_settings_of(container)
    adapter = container.extras.get("sms_adapter")
    if adapter is None:
        adapter = container.extras["sms_adapter"] = build_adapter(settings)
    report = deliver_pending(
        container.db,
        cast(SmsAdapter, adapter),
        max_attempts=settings.sms_max_attempts,
        backoff_base_seconds=settings.sms_backoff_seconds,
    )
    return f"sms: {report.sent} sent, {report.retried} to retry, {report.failed} failed"


# Jobs that must not wait a minute (an SMS with a one-time code): every few seconds.
FREQUENT_JOBS: list[tuple[str, Callable[[Container], str]]] = [
    ("sms delivery", _deliver_sms),
]


def run_due(container: Container, now: datetime | None = None) -> list[str]:
    """Run every registered job as of ``now`` (default: the container's clock)."""
    moment = now or container.clock.now()
    return [job(container, moment) for _, job in DUE_JOBS]


def leader_lock_path(database_url: str) -> Path:
    """The lock file that elects one scheduler per database among the server's processes."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"abonent-jobs-{digest}.lock"


class Scheduler:
    """Runs the due jobs every ``interval`` seconds on a daemon thread, as of the injected
    clock's time. A failing run is logged and retried at the next tick.

    With several server processes (``abonent serve --workers N``) only the one holding an
    exclusive lock on the database's leader file runs them: jobs are idempotent, but N
    processes racing for the same renewals would only waste the single writer's time. The
    kernel drops the lock with its process, so another one takes over at its next tick."""

    def __init__(self, container: Container, interval: float, frequent_interval: float = 0) -> None:
        self.container = container
        self.interval = interval
        self.frequent_interval = frequent_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._leader: TextIO | None = None
        self._leader_lock = threading.Lock()

    def is_leader(self) -> bool:
        with self._leader_lock:
            return self._elect()

    def _elect(self) -> bool:
        if self._leader is None:
            path = leader_lock_path(self.container.settings.database_url)
            handle = path.open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._leader = handle
        return True

    def resign(self) -> None:
        with self._leader_lock:
            if self._leader is not None:
                self._leader.close()  # closing the file releases the lock
                self._leader = None

    def start(self) -> None:
        if self._threads:
            return
        loops = [
            (self.interval, self.tick, "abonent-jobs"),
            (self.frequent_interval, self.tick_frequent, "abonent-frequent-jobs"),
        ]
        for interval, work, name in loops:
            if interval > 0:
                thread = threading.Thread(
                    target=self._loop, args=(interval, work), name=name, daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []
        self.resign()

    def tick(self) -> list[str]:
        try:
            return run_due(self.container)
        except AbonentError as exc:
            log.warning("due_jobs_failed", code=exc.code, error=exc.message)
        except Exception:
            log.exception("due_jobs_crashed")
        return []

    def tick_frequent(self) -> list[str]:
        done: list[str] = []
        for name, job in FREQUENT_JOBS:
            try:
                done.append(job(self.container))
            except AbonentError as exc:
                log.warning("frequent_job_failed", job=name, code=exc.code, error=exc.message)
            except Exception:
                log.exception("frequent_job_crashed", job=name)
        return done

    def _loop(self, interval: float, work: Callable[[], list[str]]) -> None:
        while not self._stop.wait(interval):
            if self.is_leader():
                work()
