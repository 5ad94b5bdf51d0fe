"""Receipts for every payment: one each, share links, PDF with Cyrillic, returns, fiscal."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pypdf
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from abonent.bills import services as bills
from abonent.bootstrap import Container
from abonent.cashdesk import services as cashdesk
from abonent.cashdesk.domain import AuthMethod, NoteEvent
from abonent.core.clock import FrozenClock
from abonent.core.errors import Conflict, InvalidAmount
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.domain import AccountKind
from abonent.ledger.services import audit_ledger
from abonent.payments import hooks
from abonent.payments.domain import Channel, Payment, TopUpRequest
from abonent.payments.services import top_up
from abonent.payments.tables import payments
from abonent.receipts import services as receipts
from abonent.receipts.domain import ReceiptKind, RecordingFiscalRegistrar
from abonent.receipts.tables import receipts as receipts_table
from abonent.web.app import create_app
from tests.factories import add_subscriber, system_account
from tests.integration.bills.helpers import add_postpaid, charge
from tests.integration.cashdesk.test_sessions_api import FEB_1

pytestmark = pytest.mark.storage

PREPAID = "+77071234567"
POSTPAID = "+77081234567"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
        yield test_client


def pay(db: Database, msisdn: str, amount: int, channel: Channel, source: str, ref: str) -> Payment:
    clearing = system_account(db, AccountKind.AGENT_CLEARING, source.replace(":", "-"))
    return top_up(
        db,
        TopUpRequest(
            msisdn=msisdn,
            amount=amount,
            channel=channel,
            source=source,
            external_id=ref,
            clearing_account_id=clearing,
            method="test",
            external_date="20260115090000",
        ),
    )


def cash_payment(container: Container, msisdn: str) -> None:
    secret = container.settings.secret_key
    _, key = cashdesk.register_machine(container.db, "ATM-1", "Офис", secret=secret)
    view = cashdesk.open_session(
        container.db, "ATM-1", key, method=AuthMethod.MSISDN, value=msisdn, secret=secret
    )
    for seq, note in enumerate((tenge(10_000), tenge(10_000)), start=1):
        cashdesk.insert_note(
            container.db,
            "ATM-1",
            key,
            view.id,
            NoteEvent(seq, note),
            secret=secret,
            limit=tenge(500_000),
        )
    cashdesk.finish_session(container.db, "ATM-1", key, view.id, secret=secret)


def test_every_payment_kind_has_exactly_one_receipt(
    container: Container, clock: FrozenClock
) -> None:
    db = container.db
    add_subscriber(db, "7071234567")
    add_postpaid(db)
    charge(db, POSTPAID, tenge(15_000))
    clock.set(FEB_1)
    bills.run_bills(db, bills.BillingPolicy())
    pay(db, PREPAID, tenge(200), Channel.AGENT, "agent:KASPI", "kaspi-1")
    pay(db, PREPAID, tenge(1_000), Channel.VOUCHER, "voucher", "batch1-0001")
    pay(db, PREPAID, tenge(3_000), Channel.CARD, "card", "acq-77")
    pay(db, PREPAID, tenge(500), Channel.TRANSFER, "transfer", "tr-5")
    pay(db, PREPAID, tenge(50), Channel.CORRECTION, "correction", "fix-1")
    pay(db, PREPAID, tenge(200), Channel.AGENT, "agent:KASPI", "kaspi-1")  # a replay
    cash_payment(container, "7081234567")  # a cash bill payment at a machine

    with db.reading() as uow:
        rows = uow.connection.execute(
            sa.select(
                payments.c.id,
                payments.c.receipt_number,
                payments.c.amount,
                payments.c.channel,
                sa.func.count(receipts_table.c.id),
            )
            .outerjoin(receipts_table, receipts_table.c.payment_id == payments.c.id)
            .group_by(
                payments.c.id, payments.c.receipt_number, payments.c.amount, payments.c.channel
            )
        ).all()
    assert sorted(r.channel for r in rows) == [
        "agent",
        "card",
        "cash",
        "correction",
        "transfer",
        "voucher",
    ]
    assert all(r[4] == 1 for r in rows)
    for payment_id, number, amount, channel, _ in rows:
        receipt = receipts.receipt_for_payment(db, payment_id)
        assert (receipt.number, receipt.amount, receipt.kind) == (number, amount, ReceiptKind.SALE)
        assert receipt.vat == (amount * 12 * 2 + 112) // 224
        assert receipt.channel == channel and receipt.seller_bin == container.settings.operator_bin
    cash = next(r for r in rows if r.channel == "cash")
    cash_receipt = receipts.receipt_for_payment(db, cash.id)
    assert cash_receipt.service == "Оплата услуг связи по счёту"
    assert cash_receipt.agent == "cash:ATM-1" and cash_receipt.msisdn_masked == "***4567"
    assert audit_ledger(db).ok


def test_payments_made_without_the_hook_get_their_receipt_lazily(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_subscriber(db, "7071234567")
    monkeypatch.setattr(hooks, "AFTER_CREDIT", [])
    old = pay(db, PREPAID, tenge(700), Channel.AGENT, "agent:KASPI", "old-1")
    older = pay(db, PREPAID, tenge(300), Channel.AGENT, "agent:KASPI", "old-2")

    assert receipts.receipt_for_payment(db, old.id).number == old.receipt_number
    assert receipts.backfill_receipts(db) == 1
    assert receipts.backfill_receipts(db) == 0
    assert receipts.receipt_for_payment(db, older.id).amount == tenge(300)


def test_share_link_shows_the_receipt_without_login_and_only_the_masked_number(
    client: TestClient, db: Database
) -> None:
    add_subscriber(db, "7071234567", name="Айгерим Сейтқали")
    payment = pay(db, PREPAID, tenge(2_000), Channel.AGENT, "agent:KASPI", "share-1")
    receipt = receipts.receipt_for_payment(db, payment.id)
    assert len(receipt.share_token) >= 24

    page = client.get(receipt.share_path())
    api = client.get(f"/api/receipts/{receipt.share_token}")
    unknown = client.get("/r/" + "x" * 24)

    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    assert "Кассовый чек" in page.text and payment.receipt_number in page.text
    assert "***4567" in page.text and "2000.00" in page.text and "<svg" in page.text
    for secret in ("7071234567", "707 123", "Айгерим", "Сейтқали"):
        assert secret not in page.text and secret not in api.text
    assert api.json()["msisdn"] == "***4567" and api.json()["agent_txn_id"] == "share-1"
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"


def test_receipt_pdf_renders_cyrillic(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    payment = pay(db, PREPAID, tenge(15_000), Channel.CARD, "card", "pdf-1")
    receipt = receipts.receipt_for_payment(db, payment.id)

    response = client.get(receipt.share_path() + ".pdf")

    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    for expected in (
        "Кассовый чек",
        "Пополнение баланса услуг связи",
        "***4567",
        "в т.ч. НДС 12%",
        "1607.14 ₸",
        "Банковская карта",
        "Проверить чек",
    ):
        assert expected in text, expected
    assert "7071234567" not in text


def test_a_correction_gets_a_separate_return_receipt(db: Database) -> None:
    add_subscriber(db, "7071234567")
    payment = pay(db, PREPAID, tenge(1_000), Channel.AGENT, "agent:KASPI", "wrong-number")
    sale = receipts.receipt_for_payment(db, payment.id)

    with db.uow() as uow:
        first = receipts.issue_return_receipt(
            uow, payment.id, amount=tenge(400), reason="платёж на ошибочный номер", key="c-1"
        )
        again = receipts.issue_return_receipt(
            uow, payment.id, amount=tenge(400), reason="платёж на ошибочный номер", key="c-1"
        )
        with pytest.raises(Conflict):
            receipts.issue_return_receipt(uow, payment.id, amount=tenge(1), reason="x", key="c-1")
        with pytest.raises(InvalidAmount):
            receipts.issue_return_receipt(
                uow, payment.id, amount=tenge(601), reason="ещё", key="c-2"
            )
        uow.commit()

    assert first == again and first.kind is ReceiptKind.RETURN
    assert first.number == sale.number + "-V1" and first.amount == -tenge(400)
    assert first.vat == -4286 and first.reason == "платёж на ошибочный номер"
    assert receipts.receipt_for_payment(db, payment.id) == sale  # the sale is untouched


def test_pending_receipts_are_registered_with_the_fiscal_service_once(db: Database) -> None:
    add_subscriber(db, "7071234567")
    payment = pay(db, PREPAID, tenge(500), Channel.AGENT, "agent:KASPI", "fiscal-1")
    registrar = RecordingFiscalRegistrar()

    assert receipts.register_pending(db, registrar) == 1
    assert receipts.register_pending(db, registrar) == 0
    receipt = receipts.receipt_for_payment(db, payment.id)
    assert receipt.fiscal_sign == f"FAKE-{payment.receipt_number}"
    assert list(registrar.registered) == [payment.receipt_number]


def test_a_bill_renders_as_html_and_as_pdf_with_cyrillic(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    add_postpaid(db)
    charge(db, POSTPAID, tenge(15_000))
    charge(db, POSTPAID, tenge(1_234), "charge.usage.voice")
    clock.set(FEB_1)
    bills.run_bills(db, bills.BillingPolicy())
    (bill,) = bills.bills_of_number(db, POSTPAID)

    page = client.get(f"/bills/{bill.share_token}")
    pdf = client.get(f"/bills/{bill.share_token}.pdf")

    assert page.status_code == 200 and "Счёт за услуги связи за 2026-01" in page.text
    assert "16234.00 ₸" in page.text and "7081234567" not in page.text
    text = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    for expected in (
        "Счёт за услуги связи за 2026-01",
        "Абонентская плата и услуги",
        "Звонки, SMS и интернет",
        "16234.00 ₸",
        "***4567",
    ):
        assert expected in text, expected
