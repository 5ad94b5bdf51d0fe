"""Wires auto top-up into the web process: threshold triggers fired by debits made in this
process are charged at once by the in-process dispatcher (see ``autopay.dispatch``)."""

from __future__ import annotations

import weakref

from fastapi import FastAPI

from abonent.autopay import dispatch


def install(app: FastAPI) -> None:
    from abonent.autopay import hooks  # noqa: F401  (the threshold hook must be registered)
    from abonent.autopay.services import process_trigger
    from abonent.bootstrap import Container
    from abonent.cards.acquirers import acquirer_for

    container: Container = app.state.container
    # Weakly: the dispatcher must not keep the engine (its registry key) alive.
    container_ref = weakref.ref(container)

    def work(rule_id: int, trigger_id: int) -> None:
        current = container_ref()
        if current is not None:
            process_trigger(current.db, acquirer_for(current), trigger_id, rule_id)

    dispatch.register(container.db.engine, work)
