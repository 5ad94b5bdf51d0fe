"""Catalogue loading, tariff changes and options, and the charging commands of ``abonent``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from abonent.bootstrap import Container
from abonent.catalog.domain import InvalidCatalogue
from abonent.catalog.services import current_catalogue, load_catalogue
from abonent.charging import services
from abonent.cli import main
from abonent.cli_support import set_container
from abonent.core.clock import FrozenClock
from abonent.core.errors import AlreadyExists, Conflict, InsufficientFunds, NotFound
from abonent.db.uow import Database
from tests.factories import add_subscriber
from tests.integration.charging.support import (
    CATALOGUE,
    assert_audit_ok,
    balance,
    load_test_catalogue,
    transactions_of_kind,
)

pytestmark = pytest.mark.storage
A = "+77071234567"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(container: Container, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    set_container(container)
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    yield run
    set_container(None)


def test_catalogue_load_refuses_a_bad_file_with_line_and_changes_nothing(
    cli: Run, db: Database, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CATALOGUE.replace("fee: 2990", "fee: 29.90"), encoding="utf-8")
    code, _, err = cli("catalog", "load", str(bad))
    assert code == 2
    assert err.startswith("error [invalid_catalogue]: catalogue refused: line 21: fee")
    assert current_catalogue(db).version == ""

    good = tmp_path / "good.yaml"
    good.write_text(CATALOGUE, encoding="utf-8")
    code, out, _ = cli("catalog", "load", str(good))
    assert code == 0 and "test-1 loaded: 4 tariffs, 2 options" in out
    code, out, _ = cli("catalog", "load", str(good))
    assert code == 0 and "unchanged" in out
    good.write_text(CATALOGUE.replace("fee: 79", "fee: 89"), encoding="utf-8")
    code, _, err = cli("catalog", "load", str(good))
    assert code == 1 and "error [conflict]" in err
    assert cli("catalog", "load", str(tmp_path / "missing.yaml"))[0] == 1


def test_a_new_catalogue_version_keeps_dropped_products_for_their_subscribers(
    db: Database,
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    services.change_tariff(db, A, "DAILY", actor="test")
    load_catalogue(
        db,
        CATALOGUE.replace('"test-1"', '"test-2"').replace("code: DAILY", "code: DAY2"),
        actor="test",
    )
    catalogue = current_catalogue(db)
    daily = catalogue.product("DAILY")
    assert catalogue.version == "test-2" and daily is not None and not daily.active
    assert "DAILY" not in [o.product.code for o in services.list_tariffs(db, A) if not o.current]
    assert services.subscription_summary(db, A) is not None
    with pytest.raises(InvalidCatalogue):
        load_catalogue(db, "version: x\n", actor="test")


def test_tariff_change_mid_period_is_charged_correctly_and_the_first_is_free(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=1000000)
    services.change_tariff(db, A, "PAYG", actor="test")  # the first tariff: no change fee
    services.change_tariff(db, A, "MONTH", actor="test")  # first change: free
    assert balance(db, A) == 1000000 - 299000
    clock.advance(days=14)  # 14 of 31 days used (15 Jan → 15 Feb)
    offers = {o.product.code: o.charge_now for o in services.list_tariffs(db, A)}
    assert offers["DAILY"] == 7900 + 0  # DAILY has no change fee in the catalogue
    summary = services.change_tariff(db, A, "DAILY", actor="test")
    refund = 299000 * 17 // 31
    assert balance(db, A) == 1000000 - 299000 + refund - 7900
    assert summary.tariff_code == "DAILY" and summary.period_start == clock.now()
    services.change_tariff(db, A, "MONTH", actor="test")  # a second change: 500 ₸ change fee
    assert balance(db, A) == 1000000 - 299000 + refund - 7900 + 7900 - 299000 - 50000 + 0
    with pytest.raises(AlreadyExists):
        services.change_tariff(db, A, "MONTH", actor="test")
    with pytest.raises(NotFound):
        services.change_tariff(db, A, "NOSUCH", actor="test")
    with db.reading() as uow:
        history = [a["action"] for a in uow.audit.for_subject(f"subscriber:{A}")]
    assert history.count("charging.tariff_changed") == 4
    assert_audit_ok(db)


def test_unaffordable_or_unavailable_changes_change_nothing(db: Database) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=10000)
    with pytest.raises(InsufficientFunds):
        services.change_tariff(db, A, "MONTH", actor="test")
    with pytest.raises(Conflict):
        services.change_tariff(db, A, "POST", actor="test")  # postpaid only
    assert services.subscription_summary(db, A) is None
    assert balance(db, A) == 10000
    with pytest.raises(InsufficientFunds):
        services.connect_option(db, A, "DATA5", actor="test")
    assert transactions_of_kind(db, "option") == 0


def test_options_connect_and_disconnect_at_once(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=200000)
    services.change_tariff(db, A, "DAILY", actor="test")
    option = services.connect_option(db, A, "data5", actor="test")
    assert option.code == "DATA5"
    assert balance(db, A) == 200000 - 7900 - 99000
    with pytest.raises(AlreadyExists):
        services.connect_option(db, A, "DATA5", actor="test")
    assert [o.product.code for o in services.list_options(db, A) if o.current] == ["DATA5"]
    summary = services.subscription_summary(db, A)
    assert summary is not None and [o.code for o in summary.options] == ["DATA5"]
    assert {(r.kind, r.product_code) for r in summary.remainders} >= {("data_mb", "DATA5")}
    services.disconnect_option(db, A, "DATA5", actor="test")
    with pytest.raises(NotFound):
        services.disconnect_option(db, A, "DATA5", actor="test")
    clock.advance(days=31)
    services.run_renewals(db, clock.now())
    assert transactions_of_kind(db, "renewal.option") == 0
    assert_audit_ok(db)


def test_cli_remainders_tariff_option_and_run_due(
    cli: Run, db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    assert cli("subscriber", "tariff", "7071234567", "daily")[0] == 0
    assert cli("subscriber", "option", "7071234567", "gudok")[0] == 0
    code, out, _ = cli("subscriber", "remainders", "7071234567", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["tariff"] == "DAILY" and data["options"][0]["code"] == "GUDOK"
    code, out, _ = cli("subscriber", "remainders", "87071234567")
    assert code == 0 and "onnet_minutes" in out
    assert cli("subscriber", "remainders", "7471230000")[0] == 1
    assert cli("subscriber", "remainders", "nonsense")[0] == 2

    code, out, _ = cli("jobs", "run-due", "--now", "2026-01-16T09:00:00+00:00")
    assert code == 0 and "renewals: 2 renewed" in out
    code, out, _ = cli("jobs", "run-due", "--now", "2026-01-16T09:00:00+00:00")
    assert "renewals: 0 renewed" in out  # replaying the same moment charges nothing
    assert cli("jobs", "run-due", "--now", "tomorrow")[0] == 2
    assert cli("jobs", "run-due", "--now", "2026-01-16T09:00:00")[0] == 2
    assert balance(db, A) == 100000 - 2 * (7900 + 1500)
    assert cli("subscriber", "suspend", "7071234567")[0] == 0
    assert cli("subscriber", "suspend", "7071234567")[0] == 1
    assert cli("subscriber", "resume", "7071234567")[0] == 0
    assert cli("audit")[0] == 0


def test_demo_gives_demo_subscribers_tariffs(cli: Run, db: Database) -> None:
    code, _, err = cli("demo")
    assert code == 0, err
    summary = services.subscription_summary(db, "+77071234567")
    assert summary is not None and summary.tariff_code == "DAILY"
    lapsed = services.subscription_summary(db, "+77471234567")
    assert lapsed is not None and lapsed.state == "lapsed"
    assert cli("demo")[0] == 0
    assert cli("audit")[0] == 0


def test_cli_statements_short_and_full(cli: Run, db: Database, tmp_path: Path) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    assert cli("subscriber", "tariff", A, "DAILY")[0] == 0
    code, out, _ = cli("statement", "short", A, "--from", "2026-01-01", "--to", "2026-01-16")
    assert code == 0 and "79.00" in out
    args = ("statement", "full", A, "--from", "2026-01-01", "--to", "2026-01-16")
    code, out, _ = cli(*args, "--email", "me@example.kz", "--out", str(tmp_path))
    assert code == 0 and "fee 30.00 ₸ charged" in out and "me@example.kz" in out
    assert any(p.suffix == ".pdf" for p in tmp_path.iterdir())
    code, out, _ = cli(*args)
    assert code == 0 and "no fee (paid before)" in out and "no e-mail address" in out
    assert cli("statement", "short", A, "--from", "soon", "--to", "2026-01-16")[0] == 2
    assert cli("statement", "full", A, "--from", "2026-01-16", "--to", "2026-01-01")[0] == 2
    code, out, _ = cli("catalog", "show")
    assert code == 0 and "test-1" in out
    assert balance(db, A) == 100000 - 7900 - 3000
    assert cli("audit")[0] == 0
