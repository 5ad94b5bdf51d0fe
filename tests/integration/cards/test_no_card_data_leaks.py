"""After every card flow (card entry on the sandbox's page, good and bad input, top-ups with every
scripted outcome, 3-D Secure pages, notifications, reconciliation), no card number (a
Luhn-valid run of 13–19 digits outside voucher fields) and no CVV is in the database (every
column of every table), in the logs or in any HTTP response."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from abonent.bootstrap import Container
from abonent.cards import services as cards
from abonent.cards.acquirers import set_acquirer
from abonent.cards.acquirers.sandbox import SandboxAcquirer
from abonent.cards.domain import CardPaymentStatus, luhn_valid
from abonent.core.clock import FrozenClock
from abonent.db.metadata import load_all_tables
from abonent.ledger.services import audit_ledger
from abonent.web.app import create_app
from tests.factories import add_subscriber
from tests.integration.cards.support import ALL_TEST_CARDS, THREE_DS_CARD

pytestmark = pytest.mark.storage

OWNER = "+77071234567"
CVV = "4829"  # distinctive, so that finding it means finding the CVV
CARD_RUN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
SEPARATED = re.compile(r"(?<!\d)\d(?:[ \-]?\d){12,18}(?!\d)")


def card_numbers_in(text: str) -> list[str]:
    found = [m for m in CARD_RUN.findall(text) if luhn_valid(m)]
    found += [
        digits
        for m in SEPARATED.findall(text)
        if luhn_valid(digits := re.sub(r"[ \-]", "", m)) and digits in ALL_TEST_CARDS
    ]
    return sorted(set(found))


def cvv_in(text: str) -> bool:
    return re.search(rf"\b{CVV}\b", text) is not None


def dump_database(engine: sa.Engine) -> str:
    """Every value of every column of every table, as text (voucher tables left out)."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in load_all_tables().sorted_tables:
            if table.name.startswith("voucher"):
                continue
            for row in conn.execute(sa.select(table)):
                parts.extend(f"{table.name}.{k}={v!s}" for k, v in row._mapping.items())
    return "\n".join(parts)


def test_card_numbers_and_cvv_never_leave_the_acquirers_page(
    container: Container,
    clock: FrozenClock,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    db = container.db
    add_subscriber(db, OWNER)
    acquirer = SandboxAcquirer(db, callback_secret=cards.card_settings().callback_secret)
    set_acquirer(container, acquirer)
    client = TestClient(create_app(container))
    responses: list[str] = []

    def seen(response: object) -> None:
        for r in [*getattr(response, "history", []), response]:
            responses.append(f"{r.status_code} {dict(r.headers)} {r.text}")  # type: ignore[attr-defined]

    linked = []
    for index, pan in enumerate(ALL_TEST_CARDS):
        session_id, url = cards.start_card_link(
            db, acquirer, owner_msisdn=OWNER, return_url="/cards/link/return?session={session}"
        )
        seen(page := client.get(url))
        assert page.status_code == 200
        # Bad input first: the page comes back without the number, nothing is stored.
        seen(bad := client.post(url, data={"pan": pan, "expiry": "01/20", "cvv": CVV}))
        assert bad.status_code == 422
        seen(
            client.post(
                url,
                data={
                    "pan": pan[:-1] + str((int(pan[-1]) + 1) % 10),
                    "expiry": "12/30",
                    "cvv": CVV,
                },
            )
        )
        spaced = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4)) if index % 2 else pan
        seen(done := client.post(url, data={"pan": spaced, "expiry": "12/30", "cvv": CVV}))
        assert done.status_code == 200 and "is linked" in done.text
        linked.append(cards.list_cards(db, OWNER)[-1])
        del session_id

    for number, card in enumerate(linked):
        payment = cards.card_topup(
            db,
            acquirer,
            owner_msisdn=OWNER,
            card_id=card.id,
            target_msisdn=OWNER,
            amount=150_000,
            idempotency_key=f"scan-{number}",
        )
        if card.last4 == THREE_DS_CARD[-4:]:
            assert payment.status is CardPaymentStatus.PENDING_3DS and payment.acs_url
            seen(client.get(payment.acs_url))
            seen(confirmed := client.post(payment.acs_url, data={"answer": "Y"}))
            assert "captured" in confirmed.text
    for note in list(acquirer.notifications):
        seen(
            client.post(
                "/api/v1/cards/notifications/sandbox",
                content=note.body,
                headers={"Content-HMAC": note.signature},
            )
        )
    seen(
        client.post(
            "/api/v1/cards/notifications/sandbox", content=b"{}", headers={"Content-HMAC": "forged"}
        )
    )
    clock.advance(minutes=5)
    cards.reconcile_unknown(db, acquirer)

    captured = [
        p for p in cards.card_payments_of(db, OWNER) if p.status is CardPaymentStatus.CAPTURED
    ]
    cards.refund_card_payment(db, acquirer, operation_id=captured[0].operation_id, actor="test")
    statuses = {p.status for p in cards.card_payments_of(db, OWNER)}
    assert {CardPaymentStatus.CAPTURED, CardPaymentStatus.DECLINED} <= statuses
    assert CardPaymentStatus.REFUNDED in statuses
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "card_payment.moved" in logs  # the logs were really captured
    database = dump_database(db.engine)
    for where, text in [("database", database), ("logs", logs), ("http", "\n".join(responses))]:
        assert card_numbers_in(text) == [], where
        assert not cvv_in(text), where
    assert "cards.last4=1111" in database  # what we do keep
    assert audit_ledger(db).ok


def test_the_scanner_finds_what_it_looks_for() -> None:
    assert card_numbers_in("x 4111111111111111 y") == ["4111111111111111"]
    assert card_numbers_in("pan=4000 0000 0000 0002") == ["4000000000000002"]
    assert card_numbers_in("txn 1234567890123") == []  # not Luhn-valid
    assert cvv_in('{"cvv": "4829"}') and not cvv_in("tok_a4829b")
    query = parse_qs(urlparse("/cards/link/return?session=abc").query)
    assert query == {"session": ["abc"]}
