"""Scheduled work: ``abonent jobs run-due`` and the scheduler inside ``abonent serve``.

``DUE_JOBS`` is a registry: each entry is (name, job) where a job takes the container and the
moment to act as of (``--now`` lets an operator catch up or replay a moment) and returns a
one-line summary. Jobs must be idempotent: running them twice for the same moment does
nothing the second time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

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


DUE_JOBS: list[tuple[str, DueJob]] = [
    ("renewals", _renewals),
    ("statement e-mails", _statement_emails),
]


def run_due(container: Container, now: datetime | None = None) -> list[str]:
    """Run every registered job as of ``now`` (default: the container's clock)."""
    moment = now or container.clock.now()
    return [job(container, moment) for _, job in DUE_JOBS]


class Scheduler:
    """Runs the due jobs every ``interval`` seconds on a daemon thread, as of the injected
    clock's time. A failing run is logged and retried at the next tick."""

    def __init__(self, container: Container, interval: float) -> None:
        self.container = container
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="abonent-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def tick(self) -> list[str]:
        try:
            return run_due(self.container)
        except AbonentError as exc:
            log.warning("due_jobs_failed", code=exc.code, error=exc.message)
        except Exception:
            log.exception("due_jobs_crashed")
        return []

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()
