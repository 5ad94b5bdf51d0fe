"""Demo data: a bank card token the ATM simulator can authorise with (method "card")."""

from __future__ import annotations

from abonent.bootstrap import Container
from abonent.cashdesk.services import link_card_token
from abonent.core.errors import AlreadyExists, NotFound

DEMO_CARD_TOKEN = "tok_demo_visa_4242"  # noqa: S105 - a public demo value
DEMO_CARD_NUMBER = "7071234567"


def load_cashdesk(c: Container) -> list[str]:
    try:
        link_card_token(c.db, DEMO_CARD_NUMBER, DEMO_CARD_TOKEN, secret=c.settings.secret_key)
    except (AlreadyExists, NotFound):
        return []
    return [f"cash machine card token {DEMO_CARD_TOKEN} for {DEMO_CARD_NUMBER}"]
