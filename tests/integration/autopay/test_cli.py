"""Operators' commands: ``abonent autopay ...`` and ``abonent cards ...``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from abonent.autopay import services as autopay
from abonent.bootstrap import Container
from abonent.cards.acquirers import set_acquirer
from abonent.cli import main
from abonent.cli_support import set_container
from tests.factories import add_subscriber
from tests.integration.autopay.support import spend, threshold
from tests.integration.cards.support import link_card, sandbox

pytestmark = pytest.mark.storage
OWNER = "+77071234567"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(container: Container, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    set_container(container)
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()  # logs of the set-up steps are not the command's output
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    yield run
    set_container(None)


def test_operator_commands(cli: Run, container: Container) -> None:
    db = container.db
    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    set_acquirer(container, acquirer)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    code, out, _ = cli("autopay", "list", "7071234567", "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert (listed["kind"], listed["amount"], listed["threshold"]) == (
        "threshold",
        "2000.00",
        "100.00",
    )
    assert cli("autopay", "pause", OWNER, str(rule.id))[1].strip() == f"rule {rule.id} is paused"
    assert cli("autopay", "resume", OWNER, str(rule.id))[0] == 0
    spend(db, OWNER, 45_000)
    code, out, _ = cli("jobs", "run-due")  # the scheduler's job list includes auto top-up
    assert code == 0 and "auto top-up: 0 scheduled, 0 before renewal, 1 charged" in out, out
    assert "card payments: 0 checked" in out
    assert cli("autopay", "run-due")[0] == 0
    code, out, _ = cli("cards", "payments", OWNER, "--json")
    assert json.loads(out)[0]["status"] == "captured"
    code, out, _ = cli("cards", "list", OWNER)
    assert "VISA *1111" in out
    assert cli("cards", "reconcile")[0] == 0
    code, _, err = cli("autopay", "pause", OWNER, "999")
    assert code == 1 and err.startswith("error [not_found]")
    code, _, err = cli("autopay", "list", "12345")
    assert code == 2 and err.startswith("error [invalid_msisdn]")
    assert cli("autopay", "delete", OWNER, str(rule.id))[0] == 0
    assert json.loads(cli("autopay", "list", OWNER, "--json")[1]) == []
