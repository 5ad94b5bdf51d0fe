"""``abonent agent add|list|reconcile`` through the real CLI entry point."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from abonent.agents import services
from abonent.agents.domain import AgentCall, Command
from abonent.bootstrap import Container
from abonent.cli import main
from abonent.cli_support import set_container
from abonent.ledger.services import audit_ledger
from tests.factories import add_subscriber

pytestmark = pytest.mark.storage


@pytest.fixture
def cli(container: Container) -> Iterator[Container]:
    set_container(container)
    yield container
    set_container(None)


def pay(c: Container, code: str, txn_id: str, national: str, amount: int, date: str) -> int:
    agent = services.get_agent(c.db, code)
    answer = services.pay(
        c.db, agent, AgentCall(Command.PAY, txn_id, national, "+7" + national, amount, date)
    )
    assert answer.prv_txn is not None
    return answer.prv_txn


def test_agent_add_and_list_with_the_exact_interface(
    cli: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "agent",
                "add",
                "QIWI",
                "--name",
                "QIWI terminals",
                "--protocol",
                "osmp",
                "--password",
                "long-enough-pw",
                "--allow-ip",
                "10.0.0.0/8",
                "--allow-ip",
                "192.0.2.7",
                "--min-sum",
                "200",
                "--max-sum",
                "50000",
            ]
        )
        == 0
    )
    assert main(["agent", "list"]) == 0
    out = capsys.readouterr().out
    assert "QIWI" in out and "osmp" in out and "10.0.0.0/8" in out and "200.00" in out
    agent = services.get_agent(cli.db, "QIWI")
    assert agent.password_hash and agent.password_hash.startswith("$argon2id$")
    assert "long-enough-pw" not in agent.password_hash
    assert agent.allow_ips == ("10.0.0.0/8", "192.0.2.7/32")
    with cli.db.reading() as uow:
        clearing = uow.ledger.account(agent.clearing_account_id)
    assert clearing is not None and clearing.code == "system:agent_clearing:QIWI"


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["--protocol", "xml"], 2),
        (["--protocol", "osmp", "--min-sum", "1,5"], 2),
        (["--protocol", "osmp", "--min-sum", "500", "--max-sum", "100"], 2),
        (["--protocol", "osmp", "--allow-ip", "999.1.1.1"], 2),
    ],
)
def test_agent_add_refuses_bad_input_with_one_line(
    cli: Container, capsys: pytest.CaptureFixture[str], args: list[str], exit_code: int
) -> None:
    code = main(["agent", "add", "BAD", "--name", "Bad", "--password", "long-enough", *args])
    assert code == exit_code
    err = capsys.readouterr().err
    assert err.startswith("error [") and "Traceback" not in err
    assert services.list_agents(cli.db) == []


def test_adding_an_agent_twice_is_refused(cli: Container) -> None:
    args = [
        "agent",
        "add",
        "KASPI",
        "--name",
        "Kaspi",
        "--protocol",
        "kaspi",
        "--password",
        "long-enough",
    ]
    assert main(args) == 0
    assert main(args) == 1


def test_reconcile_reports_every_category_as_table_and_csv_and_moves_nothing(
    cli: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_subscriber(cli.db, "7071234567")
    add_subscriber(cli.db, "7471234567")
    services.add_agent(
        cli.db, services.NewAgent("QIWI", "QIWI", "osmp", "long-enough"), actor="test"
    )
    p1 = pay(cli, "QIWI", "1", "7071234567", 20000, "20260115091500")
    pay(cli, "QIWI", "2", "7071234567", 30000, "20260115101500")
    p3 = pay(cli, "QIWI", "3", "7471234567", 50000, "20260115231500")
    pay(cli, "QIWI", "9", "7471234567", 10000, "20260116000100")  # another day: not expected
    registry = tmp_path / "qiwi-2026-01-15.csv"
    registry.write_text(
        "txn_id,date,account,sum\n"
        "1,2026-01-15 09:15:00,7071234567,200.00\n"  # matched
        "3,20260115231500,7471234567,500.01\n"  # mismatched sum
        "4,2026-01-15 12:00:00,7071234567,100.00\n",  # missing on our side
        encoding="utf-8",
    )
    out = tmp_path / "report.csv"
    with cli.db.reading() as uow:
        before = uow.ledger.audit_figures()
    for _ in range(2):  # idempotent: the same report twice
        assert main(["agent", "reconcile", "QIWI", str(registry), "--out", str(out)]) == 1
        rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
        by_txn = {r["txn_id"]: r for r in rows}
        assert {t: r["category"] for t, r in by_txn.items()} == {
            "1": "matched",
            "3": "mismatched",
            "4": "missing_on_our_side",
            "2": "missing_on_their_side",
        }
        assert by_txn["3"]["their_sum"] == "500.01" and by_txn["3"]["our_sum"] == "500.00"
        assert by_txn["3"]["prv_txn"] == str(p3) and by_txn["1"]["prv_txn"] == str(p1)
    table = capsys.readouterr().out
    assert "missing_on_their_side" in table and "sums differ" in table
    with cli.db.reading() as uow:
        assert uow.ledger.audit_figures() == before
    assert audit_ledger(cli.db).ok


def test_a_matching_registry_is_clean_and_exits_zero(cli: Container, tmp_path: Path) -> None:
    add_subscriber(cli.db, "7071234567")
    services.add_agent(
        cli.db, services.NewAgent("KASSA24", "Kassa24", "cyberplat", "long-enough"), actor="t"
    )
    pay(cli, "KASSA24", "77", "7071234567", 20000, "2026-01-15T09:15:00")
    registry = tmp_path / "r.csv"
    registry.write_text("77,2026-01-15T09:15:00,+77071234567,200\n", encoding="utf-8")
    assert main(["agent", "reconcile", "KASSA24", str(registry)]) == 0
    report = (tmp_path / "r.csv.report.csv").read_text(encoding="utf-8")
    assert report.splitlines()[1].startswith("matched,77,")


@pytest.mark.parametrize(
    "content",
    [
        "1,2026-01-15,7071234567\n",
        "x1,2026-01-15,7071234567,1.00\n",
        "1,15.01.2026,7071234567,1.00\n",
        "1,2026-01-15,7071234567,1.00\n1,2026-01-15,7071234567,1.00\n",
        "1,2026-01-15,123,1.00\n",
    ],
)
def test_a_bad_registry_is_refused_naming_the_line(
    cli: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    services.add_agent(cli.db, services.NewAgent("QIWI", "QIWI", "osmp", "long-enough"), actor="t")
    registry = tmp_path / "bad.csv"
    registry.write_text(content, encoding="utf-8")
    assert main(["agent", "reconcile", "QIWI", str(registry)]) == 2
    assert "line " in capsys.readouterr().err
    assert not (tmp_path / "bad.csv.report.csv").exists()
