"""Scheduled card work: ``reconcile_unknown(container_or_db, now)`` for the job runner."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from abonent.cards import services
from abonent.cards.acquirer import Acquirer
from abonent.cards.acquirers import resolve


def reconcile_unknown(
    container_or_db: Any,
    now: datetime | None = None,
    *,
    acquirer: Acquirer | None = None,
    limit: int = 200,
) -> services.ReconcileReport:
    """Resolve card payments in ``unknown`` (and stale ``processing`` / ``pending_3ds``) by
    asking the acquirer. ``now`` (default: the database's clock) decides what is due.
    """
    db, chosen = resolve(container_or_db, acquirer)
    return services.reconcile_unknown(db, chosen, now=now, limit=limit)
