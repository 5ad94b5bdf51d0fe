"""In the web process a debit that crosses a threshold is charged at once, without a job."""

from __future__ import annotations

import pytest

from abonent.autopay import dispatch
from abonent.autopay import services as autopay
from abonent.bootstrap import Container
from abonent.cards.acquirers import set_acquirer
from abonent.web.app import create_app
from tests.factories import add_subscriber
from tests.integration.autopay.support import spend, threshold
from tests.integration.cards.support import balance, link_card, sandbox

pytestmark = pytest.mark.storage
OWNER = "+77071234567"


def test_the_web_app_charges_threshold_triggers_right_after_the_debit(
    container: Container,
) -> None:
    db = container.db
    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    set_acquirer(container, acquirer)
    app = create_app(container)
    card = link_card(db, acquirer, OWNER)
    autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    try:
        spend(db, OWNER, 45_000)
        dispatcher = dispatch.register(db.engine, lambda _r, _t: None)  # the app's own
        dispatcher.drain()
    finally:
        dispatch.unregister(db.engine)
    assert balance(db, OWNER) == 5_000 + 200_000
    del app
