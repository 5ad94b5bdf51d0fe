"""Demo data: a sandbox test card linked to 7071234567 and a threshold rule (100 ₸ → 2000 ₸)."""

from __future__ import annotations

from abonent.autopay import services
from abonent.autopay.domain import RuleKind, RuleSpec
from abonent.bootstrap import Container
from abonent.cards import services as cards
from abonent.cards.acquirers import acquirer_for
from abonent.cards.acquirers.sandbox import SandboxAcquirer

DEMO_OWNER = "+77071234567"


def load_autopay_demo(c: Container) -> list[str]:
    acquirer = acquirer_for(c)
    if not isinstance(acquirer, SandboxAcquirer):
        return []
    with c.db.reading() as uow:
        if uow.subscribers.by_msisdn(DEMO_OWNER) is None:
            return []
    if cards.list_cards(c.db, DEMO_OWNER):
        return []
    session_id, _url = cards.start_card_link(
        c.db, acquirer, owner_msisdn=DEMO_OWNER, return_url="/cards/link/return?session={session}"
    )
    # The sandbox's test card; only its token, last four digits and expiry are kept.
    acquirer.submit_card(session_id, pan="4111111111111111", expiry="12/30", cvv="123")
    card = cards.complete_card_link(c.db, acquirer, session_id, actor="demo")
    services.create_rule(
        c.db,
        owner_msisdn=DEMO_OWNER,
        target_msisdn=DEMO_OWNER,
        card_id=card.id,
        spec=RuleSpec(RuleKind.THRESHOLD, amount=200_000, threshold=10_000),
        channel="cli",
        actor="demo",
    )
    return [f"card {card.label} and a threshold auto top-up for {DEMO_OWNER}"]
