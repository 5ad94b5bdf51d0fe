"""``abonent bills ...`` with the exact interface of the issue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest

from abonent.bootstrap import Container
from abonent.cli import main
from abonent.cli_support import set_container
from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.ledger.services import audit_ledger
from tests.integration.bills.helpers import add_postpaid, charge
from tests.integration.cashdesk.test_sessions_api import FEB_1

pytestmark = pytest.mark.storage


@pytest.fixture
def cli(container: Container) -> Iterator[Container]:
    set_container(container)
    yield container
    set_container(None)


def test_bills_run_bills_the_last_month_once_and_prints_a_pdf(
    cli: Container, clock: FrozenClock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    add_postpaid(cli.db)
    charge(cli.db, "+77081234567", tenge(15_000))
    clock.set(FEB_1)

    assert main(["bills", "run"]) == 0
    assert main(["bills", "run", "--month", "2026-01"]) == 0
    assert main(["bills", "show", "7081234567"]) == 0
    assert (
        main(
            [
                "bills",
                "pdf",
                "7081234567",
                "--month",
                "2026-01",
                "--out",
                str(tmp_path / "bill.pdf"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out

    assert "bills for 2026-01: 1 created, 0 already billed, 15000.00 ₸ due" in out
    assert "bills for 2026-01: 0 created, 1 already billed" in out
    assert "/bills/" in out and "open" in out
    text = pypdf.PdfReader(tmp_path / "bill.pdf").pages[0].extract_text()
    assert "Счёт за услуги связи за 2026-01" in text
    assert audit_ledger(cli.db).ok


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["bills", "run", "--month", "2026-13"], 2, "error [invalid_month]"),
        (["bills", "run", "--month", "2026-02"], 2, "error [billing_period_not_over]"),
        (["bills", "show", "12345"], 2, "error [invalid_msisdn]"),
        (
            ["bills", "pdf", "7081234567", "--month", "2025-12", "--out", "x.pdf"],
            1,
            "error [not_found]",
        ),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    cli: Container,
    clock: FrozenClock,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    add_postpaid(cli.db)
    clock.set(FEB_1)
    assert main(args) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
