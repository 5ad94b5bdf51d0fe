"""``abonent receipts ...`` and ``abonent cashdesk ...``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abonent.bootstrap import Container
from abonent.cli import main
from abonent.cli_support import set_container
from abonent.core.money import tenge
from abonent.payments.domain import Channel
from tests.factories import add_subscriber
from tests.integration.receipts.test_receipts import pay

pytestmark = pytest.mark.storage


@pytest.fixture
def cli(container: Container) -> Iterator[Container]:
    set_container(container)
    yield container
    set_container(None)


def test_receipts_and_cash_machines_from_the_command_line(
    cli: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    add_subscriber(cli.db, "7071234567")
    payment = pay(cli.db, "+77071234567", tenge(1_000), Channel.AGENT, "agent:KASPI", "c-1")

    assert main(["receipts", "list", "7071234567"]) == 0
    assert main(["receipts", "backfill"]) == 0
    assert main(["receipts", "fiscal"]) == 0
    assert main(["cashdesk", "register", "ATM-7", "--name", "Офис на Абая"]) == 0
    assert main(["cashdesk", "register", "ATM-7", "--name", "again"]) == 1
    assert main(["cashdesk", "register", "bad code!", "--name", "x"]) == 2
    assert main(["cashdesk", "qr", "7071234567"]) == 0
    assert main(["cashdesk", "link-card", "7071234567", "tok_card_123456"]) == 0
    out, err = capsys.readouterr()

    assert f"{payment.receipt_number}  sale  1000.00 ₸ (VAT 107.14)  agent" in out
    assert "0 receipts issued" in out and "1 receipts registered" in out
    assert "machine ATM-7 registered; key (keep it secret): " in out and "card linked" in out
    assert "error [already_exists]" in err and "error [validation_error]" in err
