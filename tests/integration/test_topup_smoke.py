from __future__ import annotations

from dataclasses import replace

import pytest

from abonent.core.errors import IdempotencyConflict
from abonent.db.uow import Database
from abonent.ledger.domain import AccountKind
from abonent.ledger.services import audit_ledger
from abonent.payments.domain import Channel, TopUpRequest
from abonent.payments.services import top_up
from tests.factories import add_subscriber, system_account

pytestmark = pytest.mark.storage


def test_top_up_credits_once_and_queues_sms(db: Database) -> None:
    add_subscriber(db, "7071234567")
    clearing = system_account(db, AccountKind.AGENT_CLEARING, "KASPI")
    request = TopUpRequest(
        msisdn="+77071234567",
        amount=20000,
        channel=Channel.AGENT,
        source="agent:KASPI",
        external_id="1001",
        clearing_account_id=clearing,
    )
    first = top_up(db, request)
    again = top_up(db, request)
    assert again.replayed and again.receipt_number == first.receipt_number
    with pytest.raises(IdempotencyConflict):
        top_up(db, replace(request, amount=20001))
    with db.reading() as uow:
        sub = uow.subscribers.by_msisdn("+77071234567")
        assert sub is not None
        account = uow.ledger.account(sub.account_id)
        assert account is not None and account.balance == 20000
        sms = uow.outbox.messages(topic="sms", recipient="+77071234567")
    assert len(sms) == 1 and "200.00" in sms[0]["payload"]["text"]
    assert audit_ledger(db).ok
