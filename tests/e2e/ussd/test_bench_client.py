"""The USSD benchmark's client (``bench.ussd``) against a real server: its session mix runs
without a bad answer, and its check catches what is not a page."""

from __future__ import annotations

import pytest

from abonent.bootstrap import Container
from abonent.core.money import tenge
from abonent.web.app import create_app
from bench.http_load import HttpResponse
from bench.ussd import SESSIONS, Checks, bench_msisdn, is_page_answer, load_servers
from tests.e2e.live import serving
from tests.integration.ussd.helpers import new_subscriber

pytestmark = pytest.mark.storage

SUBSCRIBERS = 10


def test_the_session_mix_runs_without_bad_answers(container: Container) -> None:
    for i in range(SUBSCRIBERS):
        new_subscriber(container.db, bench_msisdn(i), balance=tenge(1000))
    checks = Checks()
    with serving(create_app(container)) as base:
        port = int(base.rsplit(":", 1)[1])
        run, client_cpu = load_servers([port], 2, 0.5, SUBSCRIBERS, checks, "t")
    assert checks.bad == []
    assert run.ops == len(run.latencies["step"]) > 0  # every step acknowledged was timed
    assert run.rounds >= len(SESSIONS)
    assert client_cpu > 0


@pytest.mark.parametrize(
    ("status", "body", "good"),
    [
        (200, "CON Баланс: 1000 тг\n1 Тариф", True),
        (200, "END Операция отменена.", True),
        (500, "END Операция отменена.", False),
        (200, "internal error", False),
        (200, "END " + "я" * 81, False),  # more than one UCS-2 page
    ],
)
def test_the_check_accepts_pages_only(status: int, body: str, good: bool) -> None:
    assert is_page_answer(HttpResponse(status, {}, body.encode())) is good
