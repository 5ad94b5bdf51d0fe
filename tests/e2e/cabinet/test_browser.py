"""The cabinet in a real headless Chromium, at phone width and at desktop width."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from abonent.bootstrap import Container
from abonent.core.money import tenge
from abonent.settings import Settings
from abonent.web.app import create_app
from tests.e2e.cabinet.conftest import last_code
from tests.e2e.live import CHROMIUM, CHROMIUM_ARGS, screenshot_path, serving
from tests.factories import add_subscriber

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.storage, pytest.mark.browser]

if not os.path.exists(CHROMIUM):  # pragma: no cover - CI installs it
    pytest.skip("Debian chromium is not installed", allow_module_level=True)


@pytest.fixture
def base_url(container: Container) -> Iterator[str]:
    # Plain http on loopback: cookies without Secure, as `make run` serves locally.
    settings = Settings(
        database_url=container.settings.database_url,
        mode="development",
        cookie_secure=False,
        log_json=False,
    )
    app = create_app(Container(settings=settings, db=container.db, clock=container.clock))
    with serving(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("width,height,label", [(390, 844, "phone"), (1280, 900, "desktop")])
def test_sign_in_by_code_suspend_resume_and_switch_language(
    browser: playwright_api.Browser,
    base_url: str,
    container: Container,
    width: int,
    height: int,
    label: str,
) -> None:
    db = container.db
    add_subscriber(db, "7071234567", balance=tenge(1500), name="Айгерим Сейтқали")
    page = browser.new_page(viewport={"width": width, "height": height}, locale="ru-RU")
    page.goto(f"{base_url}/cabinet")
    assert "/login" in page.url
    page.fill("#msisdn", "+7 707 123 45 67")
    page.click("#send-code")
    page.wait_for_selector("#code")
    page.fill("#code", last_code(db, "+77071234567"))
    page.click("#sign-in")
    page.wait_for_url(f"{base_url}/cabinet")
    assert page.inner_text("#balance").replace("\u202f", " ") == "1 500.00 ₸"
    page.screenshot(path=screenshot_path(f"cabinet-dashboard-{label}"), full_page=True)

    page.click("#suspend")
    page.wait_for_selector("#resume")
    assert page.inner_text("#status") == "Приостановлен"
    page.click("#resume")
    page.wait_for_selector("#suspend")
    assert page.inner_text("#status") == "Активен"

    page.click("button.lang-en")
    page.wait_for_selector("text=Spending by month")
    page.click("button.lang-kk")
    page.wait_for_selector("text=Айлар бойынша шығындар")
    page.screenshot(path=screenshot_path(f"cabinet-dashboard-kk-{label}"), full_page=True)
    page.click("#logout")
    page.wait_for_url(f"{base_url}/login?ok=signed_out")
    page.close()


@pytest.mark.parametrize("width,height,label", [(390, 844, "phone"), (1280, 900, "desktop")])
def test_top_up_by_card_change_tariff_connect_option_and_order_a_statement(
    browser: playwright_api.Browser,
    base_url: str,
    container: Container,
    width: int,
    height: int,
    label: str,
) -> None:
    from abonent.catalog.services import load_catalogue
    from tests.e2e.cabinet.test_access_matrix import CATALOGUE

    db = container.db
    load_catalogue(db, CATALOGUE, actor="test")
    add_subscriber(db, "7071234567", balance=tenge(5000), name="Айгерим Сейтқали")
    page = browser.new_page(viewport={"width": width, "height": height}, locale="ru-RU")
    page.goto(f"{base_url}/login")
    page.fill("#msisdn", "7071234567")
    page.click("#send-code")
    page.wait_for_selector("#code")
    page.fill("#code", last_code(db, "+77071234567"))
    page.click("#sign-in")
    page.wait_for_url(f"{base_url}/cabinet")

    # Link a card: a fresh SMS code first, then the acquirer's own card-entry page.
    page.click("#to-topup")
    page.click("#step-up-send")
    page.wait_for_selector("#step-up-code")
    page.fill("#step-up-code", last_code(db, "+77071234567"))
    page.click("#step-up-confirm")
    page.click("#link-card")
    page.wait_for_selector("#pan")
    assert "/sandbox-acquirer/" in page.url
    page.screenshot(path=screenshot_path(f"cabinet-acquirer-card-entry-{label}"), full_page=True)
    page.fill("#pan", "4111 1111 1111 1111")
    page.fill("#expiry", "12/30")
    page.fill("#cvv", "737")
    page.click("button[type=submit]")
    page.wait_for_selector("#flash-ok")
    assert "/cabinet/topup" in page.url and "1111" in page.inner_text("#cards")

    # Top up 2 000 ₸ from the linked card.
    page.fill("#amount", "2000")
    page.screenshot(path=screenshot_path(f"cabinet-topup-{label}"), full_page=True)
    page.click("#pay")
    page.wait_for_selector("#balance")
    assert page.inner_text("#balance").replace("\u202f", " ") == "7 000.00 ₸"

    # Change tariff: the month tariff with its bundles on the dashboard.
    page.click("#to-tariffs")
    page.wait_for_selector("#tariff-MONTH")
    page.screenshot(path=screenshot_path(f"cabinet-tariffs-{label}"), full_page=True)
    page.click("#tariff-MONTH button.change-tariff")
    page.wait_for_selector("#tariff-card")
    assert "Месяц" in page.inner_text("#tariff-card")
    assert page.locator("#tariff-card meter").count() >= 1
    page.screenshot(path=screenshot_path(f"cabinet-dashboard-tariff-{label}"), full_page=True)

    # Connect an option with one click, then see it connected.
    page.click("#to-options")
    page.click("#option-DATA5 button.connect-option")
    page.wait_for_selector("#option-DATA5 button.disconnect-option")
    page.screenshot(path=screenshot_path(f"cabinet-options-{label}"), full_page=True)

    # Order the full statement by e-mail (the short one is free, on the page).
    page.click("a[data-nav=dashboard]")
    page.click("#to-statements")
    page.wait_for_selector("#short-statement")
    page.fill("#email", "aigerim@example.kz")
    page.click("#order-statement")
    page.wait_for_selector("#flash-ok")
    page.screenshot(path=screenshot_path(f"cabinet-statements-{label}"), full_page=True)
    with db.reading() as uow:
        mails = uow.outbox.messages(topic="email")
    assert any("aigerim@example.kz" in str(m) for m in mails)
    page.close()
