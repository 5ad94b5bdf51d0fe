"""``abonent voucher ...`` end to end through the real command (in-process)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from abonent import cli
from abonent.bootstrap import Container
from abonent.cli_support import set_container
from abonent.core.money import tenge
from abonent.ledger.services import audit_ledger
from tests.factories import add_subscriber
from tests.integration.vouchers.helpers import balance_of

pytestmark = pytest.mark.storage


def _codes(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_batch_lifecycle_and_support_redemption(
    container: Container, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_container(container)
    try:
        add_subscriber(container.db, "7071234567")
        out = tmp_path / "codes.csv"
        assert (
            cli.main(
                [
                    "voucher",
                    "batch",
                    "create",
                    "--nominal",
                    "1000",
                    "--count",
                    "10000",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        rows = _codes(out)
        assert len(rows) == 10000 and len({r["code"] for r in rows}) == 10000
        assert rows[0] == {
            **rows[0],
            "batch": "B000001",
            "serial": "B000001-0000001",
            "nominal": "1000.00",
        }
        assert out.stat().st_mode & 0o077 == 0

        # Codes are exported once: an existing file is never overwritten.
        before = out.read_bytes()
        assert (
            cli.main(
                [
                    "voucher",
                    "batch",
                    "create",
                    "--nominal",
                    "500",
                    "--count",
                    "3",
                    "--out",
                    str(out),
                ]
            )
            == 1
        )
        assert out.read_bytes() == before
        assert (
            cli.main(
                [
                    "voucher",
                    "batch",
                    "create",
                    "--nominal",
                    "700",
                    "--count",
                    "3",
                    "--out",
                    str(tmp_path / "x.csv"),
                ]
            )
            == 2
        )
        assert not (tmp_path / "x.csv").exists()

        code = rows[7]["code"]
        assert (
            cli.main(["voucher", "redeem", code, "--msisdn", "7071234567", "--operator", "Aliya K"])
            == 1
        )  # not activated yet
        assert cli.main(["voucher", "batch", "activate", "B000001"]) == 0
        capsys.readouterr()
        assert (
            cli.main(["voucher", "redeem", code, "--msisdn", "7071234567", "--operator", "Aliya K"])
            == 0
        )
        assert "credited 1000.00" in capsys.readouterr().out
        assert balance_of(container.db, "+77071234567") == tenge(1000)
        with container.db.reading() as uow:
            [audit] = uow.audit.for_subject(f"voucher:{rows[7]['serial']}")
        assert audit["actor"] == "support:Aliya K" and audit["details"]["channel"] == "support"

        assert cli.main(["voucher", "batch", "block", "B000001", "--reason", "test"]) == 0
        assert (
            cli.main(
                [
                    "voucher",
                    "redeem",
                    rows[8]["code"],
                    "--msisdn",
                    "7071234567",
                    "--operator",
                    "Aliya K",
                ]
            )
            == 1
        )
        capsys.readouterr()
        assert cli.main(["voucher", "batch", "list", "--json"]) == 0
        listed = capsys.readouterr().out
        assert '"redeemed": 1' in listed and '"blocked": 9999' in listed
        assert cli.main(["voucher", "batch", "activate", "B000009"]) == 1
        assert (
            cli.main(["voucher", "redeem", code, "--msisdn", "7071234567", "--operator", " "]) == 2
        )
        assert audit_ledger(container.db).ok
    finally:
        set_container(None)


def test_demo_prints_an_active_batch_to_a_csv(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abonent.demo import DEMO_LOADERS, load_vouchers

    assert load_vouchers in DEMO_LOADERS
    monkeypatch.chdir(tmp_path)
    add_subscriber(container.db, "7071234568")
    assert len(load_vouchers(container)) == 2
    assert load_vouchers(container) == []  # safe to run again
    rows = _codes(tmp_path / "var" / "demo-vouchers.csv")
    assert len(rows) == 10
    set_container(container)
    try:
        assert (
            cli.main(
                [
                    "voucher",
                    "redeem",
                    rows[0]["code"],
                    "--msisdn",
                    "7071234568",
                    "--operator",
                    "demo",
                ]
            )
            == 0
        )
    finally:
        set_container(None)
    assert balance_of(container.db, "+77071234568") == tenge(500)
    assert audit_ledger(container.db).ok
