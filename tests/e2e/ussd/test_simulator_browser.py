"""The phone simulator in headless Chromium: what a person clicks goes to ``/ussd`` and
``/sms/incoming`` as the network would send it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from abonent.bootstrap import Container
from abonent.core.money import tenge
from abonent.ledger.services import audit_ledger
from abonent.web.app import create_app
from tests.e2e.live import CHROMIUM, CHROMIUM_ARGS, screenshot_path, serving
from tests.integration.ussd.helpers import balance, make_veteran, new_subscriber, sms_texts

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.storage, pytest.mark.browser]

if not os.path.exists(CHROMIUM):  # pragma: no cover - CI installs it
    pytest.skip("Debian chromium is not installed", allow_module_level=True)

A, B = "7071234567", "7071234568"


@pytest.fixture
def base_url(container: Container) -> Iterator[str]:
    with serving(create_app(container)) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def test_call_me_reaches_the_other_inbox_and_trust_credit_is_taken(
    browser: playwright_api.Browser, base_url: str, container: Container
) -> None:
    db, clock = container.db, container.clock
    new_subscriber(db, B, balance=tenge(250))
    make_veteran(db, clock, A, balance=tenge(100))  # type: ignore[arg-type]
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    expect = playwright_api.expect

    page.goto(f"{base_url}/simulator?msisdn={A}")
    page.fill("#dial", "*144*7071234568#")
    page.click("#call")
    expect(page.locator("#screen")).to_have_text("Запрос «Позвони мне» отправлен на 7071234568.")
    page.screenshot(path=screenshot_path("simulator-call-me"))

    page.fill("#msisdn", B)
    page.click("#use")
    expect(page.locator("#inbox .sms .text").first).to_have_text(
        "Пожалуйста, позвони мне. Абонент 7071234567"
    )
    expect(page.locator("#inbox .sms .meta").first).to_contain_text("from 7071234567")
    page.screenshot(path=screenshot_path("simulator-inbox"))

    page.fill("#msisdn", A)
    page.click("#use")
    page.fill("#dial", "*141#")
    page.click("#call")
    expect(page.locator("#screen")).to_have_text("Доверительный платеж на 3 дн., тг:\n1 500")
    page.fill("#answer", "1")
    page.click("#send")
    expect(page.locator("#screen")).to_have_text(
        "Взять 500 тг на 3 дн.? Комиссия 25 тг.\n1 Да\n2 Нет"
    )
    page.fill("#answer", "1")
    page.press("#answer", "Enter")
    expect(page.locator("#screen")).to_have_text("Зачислено 500 тг. Верните 525 тг до 20.03.2026.")
    expect(page.locator("#sim-balance")).to_have_text("600.00")
    expect(page.locator("#answer-row")).to_be_hidden()
    expect(page.locator("#inbox .sms .text").first).to_have_text(
        "Доверительный платеж 500 тг зачислен. Верните 525 тг до 20.03.2026."
    )
    page.screenshot(path=screenshot_path("simulator-trust-credit"))

    assert balance(db, A) == tenge(600)
    assert sms_texts(db, B) == ["Пожалуйста, позвони мне. Абонент 7071234567"]
    assert audit_ledger(db).ok
