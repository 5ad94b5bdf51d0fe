"""The ``abonent`` command driven in-process (``abonent.cli.main``) against the test database
of each backend: its interface, its output, its exit codes, and one clear line for bad input."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import pytest
import sqlalchemy as sa

from abonent.bootstrap import Container
from abonent.cli import main
from abonent.cli_support import set_container
from abonent.core.iin import make_iin
from abonent.db.uow import Database
from abonent.ledger.tables import accounts, ledger_transactions, postings
from tests.integration.subscribers.state import database_state

pytestmark = pytest.mark.storage

VALID_IIN = make_iin(date(1990, 3, 14), 4, 1)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The one line a refused command must print: ``error [code]: message``."""
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("error ["), self.err
        return lines[0]


class Cli(Protocol):
    def __call__(self, *args: str) -> Result: ...


@pytest.fixture
def cli(container: Container, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    set_container(container)
    capsys.readouterr()

    def run(*args: str) -> Result:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return Result(code, out, err)

    yield run
    set_container(None)


def show(cli: Cli, msisdn: str) -> dict[str, object]:
    result = cli("subscriber", "show", msisdn, "--json")
    assert result.code == 0, result.err
    data: dict[str, object] = json.loads(result.out)
    return data


def test_db_upgrade_on_a_migrated_database_is_a_no_op(cli: Cli, db: Database) -> None:
    before = database_state(db)
    result = cli("db", "upgrade")
    assert result.code == 0, result.err
    assert "is at revision heads" in result.out
    assert database_state(db) == before


def test_demo_loads_once_and_a_second_run_changes_nothing(cli: Cli, db: Database) -> None:
    first = cli("demo")
    assert first.code == 0, first.err
    assert "demo data loaded" in first.out
    loaded = database_state(db)
    assert loaded["subscribers rows"] >= 6

    second = cli("demo")
    assert second.code == 0, second.err
    assert second.out.strip() == "demo data present"
    assert database_state(db) == loaded

    demo = show(cli, "7071234567")
    assert demo["msisdn"] == "7071234567" and type(demo["balance_tiyn"]) is int
    assert cli("audit").code == 0


def test_subscriber_add_with_every_option_and_show_as_json(cli: Cli) -> None:
    assert VALID_IIN is not None
    added = cli(
        "subscriber",
        "add",
        "+7 707 123 45 67",
        "--name",
        "Айгерим Сейтқали",
        "--iin",
        VALID_IIN,
        "--postpaid",
        "--balance",
        "150.50",
        "--language",
        "kk",
        "--email",
        "aigerim@example.kz",
        "--brand",
        "altel",
    )
    assert added.code == 0, added.err
    assert added.out.strip() == "added +7 707 123 45 67 (altel, postpaid), balance 150.50 ₸"

    data = show(cli, "87071234567")
    assert data["msisdn"] == "7071234567"
    assert data["e164"] == "+77071234567"
    assert data["status"] == "active"
    assert data["brand"] == "altel"
    assert data["balance_tiyn"] == 15_050 and type(data["balance_tiyn"]) is int
    assert data["balance"] == "150.50"
    assert data["payment_type"] == "postpaid"
    assert data["language"] == "kk"
    assert data["email"] == "aigerim@example.kz"
    assert data["iin"] == VALID_IIN
    assert data["name"] == "Айгерим Сейтқали"
    assert data["floor_tiyn"] == -1_000_000


def test_subscriber_add_with_defaults(cli: Cli) -> None:
    assert cli("subscriber", "add", "7011112233", "--name", "Олжас Беков").code == 0
    data = show(cli, "+77011112233")
    assert data["msisdn"] == "7011112233"
    assert (data["brand"], data["payment_type"], data["language"]) == ("kcell", "prepaid", "ru")
    assert (data["balance_tiyn"], data["floor_tiyn"], data["iin"]) == (0, 0, None)


def test_show_without_json_prints_a_table(cli: Cli) -> None:
    cli("subscriber", "add", "7071234567", "--name", "Dana", "--balance", "5")
    result = cli("subscriber", "show", "7071234567")
    assert result.code == 0
    assert "balance_tiyn" in result.out and "500" in result.out


def test_set_status_moves_along_the_lifecycle(cli: Cli) -> None:
    cli("subscriber", "add", "7071234567", "--name", "Dana")
    for status in ["suspended", "active", "barred", "active", "closed"]:
        result = cli("subscriber", "set-status", "7071234567", status, "--reason", "test")
        assert result.code == 0, result.err
        assert result.out.strip() == f"+7 707 123 45 67 is now {status}"
        assert show(cli, "7071234567")["status"] == status


def test_audit_passes_on_a_clean_database(cli: Cli) -> None:
    cli("subscriber", "add", "7071234567", "--name", "Dana", "--balance", "100")
    result = cli("audit")
    assert result.code == 0, result.err
    assert "audit OK" in result.out
    assert "sum of all balances 0" in result.out
    assert result.err == ""


def test_audit_fails_with_one_line_per_drifted_balance(cli: Cli, db: Database) -> None:
    # Given a balance changed behind the ledger's back
    cli("subscriber", "add", "7071234567", "--name", "Dana", "--balance", "100")
    with db.engine.begin() as conn:
        conn.execute(
            accounts.update()
            .where(accounts.c.code == "subscriber:+77071234567:main")
            .values(balance=accounts.c.balance + 1)
        )
    # When the audit runs
    result = cli("audit")
    # Then it fails and names the account
    assert result.code == 1
    assert "audit FAILED" in result.out
    fails = [line for line in result.err.splitlines() if line.startswith("FAIL ")]
    assert (
        "FAIL account subscriber:+77071234567:main: stored balance 10001 but postings sum to 10000"
    ) in fails
    assert "FAIL all balances sum to 1, not 0" in fails


def test_audit_fails_on_an_unbalanced_transaction_and_a_balance_below_floor(
    cli: Cli, db: Database
) -> None:
    cli("subscriber", "add", "7071234567", "--name", "Dana", "--balance", "100")
    with db.engine.begin() as conn:
        transaction_id, account_id = conn.execute(
            sa.select(postings.c.transaction_id, postings.c.account_id).where(postings.c.amount > 0)
        ).one()
        # A leg that unbalances the transaction, and the stored balance following it below 0.
        conn.execute(
            postings.insert().values(
                transaction_id=transaction_id, account_id=account_id, amount=-20_000
            )
        )
        conn.execute(accounts.update().where(accounts.c.id == account_id).values(balance=-10_000))
    result = cli("audit")
    assert result.code == 1
    fails = [line for line in result.err.splitlines() if line.startswith("FAIL ")]
    assert f"FAIL transaction {transaction_id} sums to -20000, not 0" in fails
    assert "FAIL account subscriber:+77071234567:main: balance -10000 is below its floor 0" in fails


def _insert_unchecked_posting(db: Database, transaction_id: int, account_id: int) -> None:
    """A posting of 0 tiyn with the database's reference checks switched off for it (on
    SQLite a plain connection, whose foreign keys are off; on PostgreSQL replica mode, which
    fires no triggers), as a restored dump or a hand edit could leave one."""
    row = {"transaction_id": transaction_id, "account_id": account_id, "amount": 0}
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(postings.insert().values(**row))
        return
    plain = sqlite3.connect(db.engine.url.database or "")
    try:
        with plain:
            plain.execute(
                "INSERT INTO postings (transaction_id, account_id, amount) VALUES (?, ?, 0)",
                (transaction_id, account_id),
            )
    finally:
        plain.close()


def test_audit_fails_on_a_posting_naming_a_missing_account(cli: Cli, db: Database) -> None:
    # Given a posting (of 0 tiyn: every sum still holds) naming an account that does not exist
    cli("subscriber", "add", "7071234567", "--name", "Dana", "--balance", "100")
    with db.reading() as uow:
        transaction_id = uow.connection.execute(
            sa.select(sa.func.min(ledger_transactions.c.id))
        ).scalar_one()
    _insert_unchecked_posting(db, transaction_id, 999_999)

    # When the audit runs, then it fails and names the posting
    result = cli("audit")
    assert result.code == 1
    fails = [line for line in result.err.splitlines() if line.startswith("FAIL ")]
    assert len(fails) == 1
    assert fails[0].endswith(
        f"(transaction {transaction_id}, account 999999) names a missing transaction or account"
    )


def test_audit_counts_what_it_checked(cli: Cli, db: Database) -> None:
    cli("subscriber", "add", "7071234567", "--name", "Dana", "--balance", "100")
    cli("subscriber", "add", "7071234568", "--name", "Erlan")
    with db.reading() as uow:
        transactions = uow.connection.execute(
            sa.select(sa.func.count()).select_from(ledger_transactions)
        ).scalar_one()
    result = cli("audit")
    assert f"transactions {transactions}, postings {2 * transactions}" in result.out


BAD_INPUT = [
    pytest.param(
        ["subscriber", "add", "abcdefghij", "--name", "X"], "invalid_msisdn", 2, id="letters"
    ),
    pytest.param(["subscriber", "add", "707123456", "--name", "X"], "invalid_msisdn", 2, id="9"),
    pytest.param(
        ["subscriber", "add", "+79161234567", "--name", "X"], "invalid_msisdn", 2, id="foreign"
    ),
    pytest.param(["subscriber", "add", "", "--name", "X"], "invalid_msisdn", 2, id="empty"),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--iin", "900314400012"],
        "invalid_iin",
        2,
        id="iin-checksum",
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--iin", "901314400011"],
        "invalid_iin",
        2,
        id="iin-date",
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--balance", "-5"],
        "invalid_amount",
        2,
        id="negative-balance",
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--balance", "1.005"],
        "invalid_amount",
        2,
        id="fractional-tiyn",
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--balance", "1e3"],
        "invalid_amount",
        2,
        id="exponent",
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--balance", "сто"],
        "invalid_amount",
        2,
        id="words",
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--language", "de"],
        "validation_error",
        2,
        id="language",
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--email", "nope"],
        "validation_error",
        2,
        id="email",
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", " "], "validation_error", 2, id="blank-name"
    ),
    pytest.param(
        ["subscriber", "add", "7071234569", "--name", "X", "--brand", "nosuch"],
        "validation_error",
        2,
        id="brand",
    ),
    pytest.param(
        ["subscriber", "add", "7071234567", "--name", "X"], "already_exists", 1, id="duplicate"
    ),
    pytest.param(["subscriber", "add", "7071234569"], "usage", 2, id="missing-name"),
    pytest.param(["subscriber", "show", "7079999999"], "not_found", 1, id="unknown-number"),
    pytest.param(["subscriber", "show", "12"], "invalid_msisdn", 2, id="show-bad-number"),
    pytest.param(
        ["subscriber", "set-status", "7071234567", "blocked"],
        "validation_error",
        2,
        id="unknown-status",
    ),
    pytest.param(
        ["subscriber", "set-status", "7071234567", "active"],
        "invalid_status_transition",
        2,
        id="active-to-active",
    ),
    pytest.param(
        ["subscriber", "set-status", "7079999999", "barred"], "not_found", 1, id="status-unknown"
    ),
    pytest.param(["brand", "set-prefix", "70", "tele2"], "validation_error", 2, id="prefix"),
    pytest.param(["brand", "set-prefix", "709", "nosuch"], "validation_error", 2, id="brand"),
    pytest.param(["frobnicate"], "usage", 2, id="unknown-command"),
    pytest.param(["audit", "--frob"], "usage", 2, id="unknown-option"),
]


@pytest.mark.parametrize(("args", "code", "exit_code"), BAD_INPUT)
def test_bad_input_is_one_error_line_a_non_zero_exit_and_changes_nothing(
    cli: Cli, db: Database, args: list[str], code: str, exit_code: int
) -> None:
    # Given one subscriber with money
    assert cli("subscriber", "add", "7071234567", "--name", "Dana", "--balance", "100").code == 0
    before = database_state(db)
    # When a command gets bad input
    result = cli(*args)
    # Then it prints one line naming the error, exits non-zero, and nothing changed
    assert result.error_line.startswith(f"error [{code}]: ")
    assert result.code == exit_code
    assert database_state(db) == before


@pytest.mark.parametrize(
    ("path", "target"),
    [
        (["barred"], "suspended"),
        (["closed"], "active"),
        (["closed"], "suspended"),
        (["closed"], "barred"),
        (["closed"], "closed"),
    ],
)
def test_forbidden_status_change_is_refused_and_changes_nothing(
    cli: Cli, db: Database, path: list[str], target: str
) -> None:
    cli("subscriber", "add", "7071234567", "--name", "Dana")
    for status in path:
        assert cli("subscriber", "set-status", "7071234567", status).code == 0
    before = database_state(db)
    result = cli("subscriber", "set-status", "7071234567", target)
    assert result.code == 2
    assert result.error_line == (
        f"error [invalid_status_transition]: a {path[-1]} number cannot become {target}"
    )
    assert database_state(db) == before
