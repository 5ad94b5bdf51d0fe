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
