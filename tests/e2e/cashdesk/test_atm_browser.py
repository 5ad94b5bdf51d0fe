"""The ATM simulator in headless Chromium: pay a bill with two notes, open the receipt."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from abonent.bills import services as bills
from abonent.bills.domain import BillStatus, Month
from abonent.bootstrap import Container
from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.ledger.services import audit_ledger
from abonent.settings import Settings
from abonent.web.app import create_app
from tests.e2e.live import CHROMIUM, CHROMIUM_ARGS, screenshot_path, serving
from tests.integration.bills.helpers import add_postpaid, charge
from tests.integration.cashdesk.test_sessions_api import FEB_1, PAYER_IIN

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.storage, pytest.mark.browser]

if not os.path.exists(CHROMIUM):  # pragma: no cover - CI installs it
    pytest.skip("Debian chromium is not installed", allow_module_level=True)


@pytest.fixture
def base_url(container: Container) -> Iterator[str]:
    settings = Settings(
        database_url=container.settings.database_url, mode="development", log_json=False
    )
    app = create_app(Container(settings=settings, db=container.db, clock=container.clock))
    with serving(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[playwright_api.Browser]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def test_atm_simulator_pays_a_bill_with_two_notes_and_opens_the_receipt(
    browser: playwright_api.Browser, base_url: str, container: Container, clock: FrozenClock
) -> None:
    db = container.db
    add_postpaid(db, iin=PAYER_IIN)
    charge(db, "+77081234567", tenge(15_000))
    clock.set(FEB_1)
    bills.run_bills(db, bills.BillingPolicy())
    page = browser.new_page(viewport={"width": 1024, "height": 900}, locale="ru-RU")

    page.goto(f"{base_url}/simulator/atm")
    page.select_option("#auth-method", "iin")
    page.fill("#auth-value", PAYER_IIN)
    page.click("#auth-submit")
    page.wait_for_selector("#notes-step:not([hidden])")
    assert page.inner_text("#amount-to-pay") == "15000.00"
    assert page.inner_text("#number") == "***4567"
    page.click("button.note[data-denomination='10000']")
    page.wait_for_function("document.getElementById('inserted').textContent === '10000.00'")
    page.click("button.note[data-denomination='10000']")
    page.wait_for_function("document.getElementById('inserted').textContent === '20000.00'")
    page.screenshot(path=screenshot_path("atm-simulator-notes"), full_page=True)
    page.click("#finish")
    page.wait_for_selector("#done-step:not([hidden])")
    number = page.inner_text("#receipt-number")
    page.click("#receipt-link")
    page.wait_for_selector("#receipt-msisdn")

    assert page.inner_text("h1").startswith("Кассовый чек")
    assert page.inner_text("#receipt-number") == number
    assert page.inner_text("#receipt-msisdn") == "***4567"
    assert "20000.00 ₸" in page.inner_text("#receipt-amount")
    assert "7081234567" not in page.content()
    page.screenshot(path=screenshot_path("atm-simulator-receipt"), full_page=True)
    page.close()
    assert bills.bill_for_month(db, "+77081234567", Month(2026, 1)).status is BillStatus.PAID
    assert audit_ledger(db).ok
