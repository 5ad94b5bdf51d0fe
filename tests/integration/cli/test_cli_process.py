"""The installed ``abonent`` command as a separate process: what an operator or CI sees,
exit codes included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abonent.db.uow import Database
from abonent.ledger.tables import accounts
from tests.integration.cli.run import run_abonent

pytestmark = [pytest.mark.storage, pytest.mark.slow]


def test_fresh_sqlite_database_from_upgrade_to_audit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'abonent.sqlite3'}"

    upgraded = run_abonent(["db", "upgrade"], url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "var" / "abonent.sqlite3").exists()

    first = run_abonent(["demo"], url)
    assert first.returncode == 0, first.stderr
    assert "demo data loaded" in first.stdout
    again = run_abonent(["demo"], url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "demo data present"

    shown = run_abonent(["subscriber", "show", "+7 707 123 45 67", "--json"], url)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["msisdn"] == "7071234567"
    assert data["status"] == "active"
    assert data["brand"] == "tele2"
    assert type(data["balance_tiyn"]) is int

    audit = run_abonent(["audit"], url)
    assert audit.returncode == 0, audit.stderr
    assert "audit OK" in audit.stdout


def test_audit_process_exit_code_follows_the_ledger(db: Database, database_url: str) -> None:
    # Given a subscriber with an opening balance
    added = run_abonent(
        ["subscriber", "add", "7071234567", "--name", "Dana", "--balance", "100"], database_url
    )
    assert added.returncode == 0, added.stderr

    # When the stored balance drifts from its postings
    with db.engine.begin() as conn:
        conn.execute(accounts.update().values(balance=accounts.c.balance + 7))

    # Then the audit process exits 1 and says what is wrong
    audit = run_abonent(["audit"], database_url)
    assert audit.returncode == 1
    assert "audit FAILED" in audit.stdout
    assert "FAIL account subscriber:+77071234567:main: stored balance 10007" in audit.stderr
    assert "Traceback" not in audit.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["subscriber", "add", "7071234567", "--name", "X", "--balance", "-1"],
        ["no-such-command"],
    ],
)
def test_bad_input_in_a_process_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, args: list[str]
) -> None:
    # (in-process tests cover every bad input on both databases; this is the real exit code)
    result = run_abonent(args, f"sqlite:///{tmp_path / 'abonent.sqlite3'}")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error ["), result.stderr


@pytest.mark.parametrize("command", [["audit"], ["db", "upgrade"]])
def test_unreachable_database_is_one_line_and_exit_3(command: list[str]) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    result = run_abonent(command, "postgresql+psycopg://postgres@127.0.0.1:1/abonent")
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error [storage_unavailable]: the database is unavailable")
