"""A redirected payment gets a fiscal return receipt for the part moved off it."""

from __future__ import annotations

import pytest

from abonent.db.uow import Database
from abonent.payments.corrections import redirect_payment
from abonent.receipts.domain import ReceiptKind
from abonent.receipts.services import receipts_of
from tests.factories import add_subscriber
from tests.integration.payments.test_status_and_redirect import RIGHT, WRONG, agent_top_up, spend

pytestmark = pytest.mark.storage


def test_redirect_issues_a_return_receipt_for_the_part_moved(db: Database) -> None:
    add_subscriber(db, WRONG)
    add_subscriber(db, RIGHT)
    payment = agent_top_up(db, WRONG, 100000)
    spend(db, WRONG, 25000)
    report = redirect_payment(db, payment.receipt_number, to=RIGHT, reason="typo", actor="s:a")
    with db.reading() as uow:
        repo = receipts_of(uow)
        on_mistaken = repo.of_payment(payment.id)
        new_payment_id = uow.connection.exec_driver_sql(
            "SELECT id FROM payments WHERE receipt_number = ?"
            if db.engine.dialect.name == "sqlite"
            else "SELECT id FROM payments WHERE receipt_number = %s",
            (report.new_receipt,),
        ).scalar_one()
        on_new = repo.of_payment(new_payment_id)
    sale = next(r for r in on_mistaken if r.kind is ReceiptKind.SALE)
    (returned,) = [r for r in on_mistaken if r.kind is ReceiptKind.RETURN]
    assert (sale.amount, returned.amount) == (100000, -75000)
    assert returned.number == report.return_receipt == f"{sale.number}-V1"
    assert "redirected to" in returned.reason and "typo" in returned.reason
    assert [(r.kind, r.amount) for r in on_new] == [(ReceiptKind.SALE, 75000)]
