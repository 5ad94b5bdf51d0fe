"""Puts auto top-up and the card reconciler on the scheduler of ``abonent jobs run-due`` (the
``DUE_JOBS`` registry of ``abonent.charging.jobs``), when that feature is installed."""

from __future__ import annotations

from datetime import datetime

from abonent.bootstrap import Container

AUTOPAY_JOB = "auto top-up"
RECONCILER_JOB = "card payments reconciler"


def autopay_job(container: Container, now: datetime) -> str:
    from abonent.autopay.jobs import run_due

    report = run_due(container, now)
    return (
        f"auto top-up: {report.schedule_fired} scheduled, {report.renewal_fired} before renewal, "
        f"{report.triggers_processed} charged, {len(report.errors)} errors"
    )


def reconciler_job(container: Container, now: datetime) -> str:
    from abonent.cards.jobs import reconcile_unknown

    report = reconcile_unknown(container, now)
    return (
        f"card payments: {report.checked} checked, {report.captured} captured, "
        f"{report.failed + report.declined} not charged, {report.still_unknown} still unknown"
    )


def register_due_jobs() -> None:
    try:
        from abonent.charging.jobs import DUE_JOBS
    except ImportError:
        return
    names = {name for name, _ in DUE_JOBS}
    if AUTOPAY_JOB not in names:
        # Before renewals: a renewal-day top-up should land before the fee is taken.
        DUE_JOBS.insert(0, (AUTOPAY_JOB, autopay_job))
    if RECONCILER_JOB not in names:
        DUE_JOBS.append((RECONCILER_JOB, reconciler_job))
