"""A picture of the stored state, to prove that a refused request changed nothing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from abonent.audit.tables import audit_log
from abonent.db.uow import Database
from abonent.ledger.tables import accounts, ledger_transactions, postings
from abonent.outbox.tables import outbox
from abonent.subscribers.tables import brands, number_prefixes, subscribers

COUNTED = (subscribers, accounts, ledger_transactions, postings, audit_log, outbox, brands)


def database_state(db: Database) -> dict[str, Any]:
    """Row counts of the foundation's tables, every balance, every subscriber and prefix."""
    with db.reading() as uow:
        conn = uow.connection
        state: dict[str, Any] = {
            f"{t.name} rows": conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in COUNTED
        }
        state["balances"] = conn.execute(
            sa.select(accounts.c.code, accounts.c.balance, accounts.c.floor).order_by(
                accounts.c.code
            )
        ).all()
        state["subscribers"] = conn.execute(
            sa.select(
                subscribers.c.msisdn,
                subscribers.c.status,
                subscribers.c.status_changed_at,
                subscribers.c.name,
                subscribers.c.brand_code,
            ).order_by(subscribers.c.msisdn)
        ).all()
        state["prefixes"] = conn.execute(
            sa.select(number_prefixes.c.prefix, number_prefixes.c.brand_code).order_by(
                number_prefixes.c.prefix
            )
        ).all()
    return state
