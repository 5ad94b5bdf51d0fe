"""Helpers for card and auto top-up tests: a sandbox acquirer and linked cards, built through
the real services (the sandbox's own card-entry step included)."""

from __future__ import annotations

from abonent import hooks_registry  # noqa: F401  (auto top-up hooks, as bootstrap registers them)
from abonent.cards import services as cards
from abonent.cards.acquirers.sandbox import SandboxAcquirer
from abonent.cards.domain import Card
from abonent.core.money import Tiyn
from abonent.db.uow import Database

SECRET = "test-callback-secret"
APPROVE_CARD = "4111111111111111"
DECLINE_CARD = "4000000000000002"
THREE_DS_CARD = "4000000000003220"
SERVER_ERROR_CARD = "4000000000000119"
TIMEOUT_AFTER_CARD = "4000000000000077"
TIMEOUT_BEFORE_CARD = "4000000000000069"
ALL_TEST_CARDS = (
    APPROVE_CARD,
    DECLINE_CARD,
    THREE_DS_CARD,
    SERVER_ERROR_CARD,
    TIMEOUT_AFTER_CARD,
    TIMEOUT_BEFORE_CARD,
)
CVV = "737"


def sandbox(db: Database) -> SandboxAcquirer:
    return SandboxAcquirer(db, callback_secret=SECRET)


def link_card(db: Database, acquirer: SandboxAcquirer, owner: str, pan: str = APPROVE_CARD) -> Card:
    session_id, _url = cards.start_card_link(
        db, acquirer, owner_msisdn=owner, return_url="/cards/link/return?session={session}"
    )
    acquirer.submit_card(session_id, pan=pan, expiry="12/30", cvv=CVV)
    return cards.complete_card_link(db, acquirer, session_id, actor="test")


def balance(db: Database, msisdn: str) -> Tiyn:
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        assert subscriber is not None
        account = uow.ledger.account(subscriber.account_id)
        assert account is not None
        return account.balance


def sms_to(db: Database, msisdn: str) -> list[str]:
    with db.reading() as uow:
        return [m["payload"]["text"] for m in uow.outbox.messages(topic="sms", recipient=msisdn)]
