"""``abonent usage import FILE.csv``: streamed, rated, every bad line reported by number."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from abonent.bootstrap import Container
from abonent.cli import main
from abonent.cli_support import set_container
from abonent.db.uow import Database
from tests.factories import add_subscriber
from tests.integration.charging.support import assert_audit_ok, balance, load_test_catalogue

pytestmark = pytest.mark.storage
A = "+77071234567"

USAGE = """\
record_id,kind,caller,callee,started_at,duration_seconds,volume_bytes
u1,call,+77071234567,+77771234567,2026-01-15T09:00:00Z,61,
u2,sms,+77071234567,+77001234567,2026-01-15T09:01:00+05:00,,
u3,data,+77071234567,,2026-01-15T09:02:00Z,,2048
u1,call,+77071234567,+77771234567,2026-01-15T09:00:00Z,61,
u5,call,+77471230000,+77771234567,2026-01-15T09:03:00Z,10,
u6,call,+77071234567,+77771234567,not-a-date,10,
u7,call,+77071234567,+77771234567,2026-01-15T09:04:00Z,-3,
u8,fax,+77071234567,+77771234567,2026-01-15T09:05:00Z,10,
u9,call,+77071234567
u10,collect_call,+77001234567,+77071234567,2026-01-15T09:06:00Z,59,
"""


def test_usage_import_rates_good_lines_and_reports_bad_ones(
    container: Container, db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    add_subscriber(db, "+77001234567", balance=0)
    path = tmp_path / "usage.csv"
    path.write_text(USAGE, encoding="utf-8")
    report = tmp_path / "report.csv"
    set_container(container)
    try:
        code = main(["usage", "import", str(path), "--report", str(report), "--quiet"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "4 rated (73.03 ₸)" in out and "1 duplicates ignored" in out and "5 refused" in out
        assert "line 5: u1: duplicate" in err
        assert "line 6: u5: refused [unknown_number]" in err
        assert "line 7: u6: refused [bad_record] started_at" in err
        assert "line 8: u7: refused [bad_record]" in err
        assert "line 9: u8: refused [bad_record] kind" in err
        assert "line 10: u9: refused [bad_record] expected 7 fields" in err
        with report.open(encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        assert [r["line"] for r in rows] == [str(n) for n in range(2, 12)]
        # PAYG: off-net 25 ₸ per started minute ×2, SMS 10 ₸, 2 KB data at 15 ₸/MB → 3 tiyn;
        # the collect call costs the callee 13 ₸ for its one started minute.
        assert balance(db, A) == 100000 - 5000 - 1000 - 3 - 1300
        again = main(["usage", "import", str(path), "--quiet"])
        out, _ = capsys.readouterr()
        assert again == 0 and "0 rated" in out and "5 duplicates ignored" in out
        assert main(["usage", "import", str(tmp_path / "missing.csv")]) == 1
        (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
        assert main(["usage", "import", str(tmp_path / "bin.csv"), "--quiet"]) == 2
        (tmp_path / "hdr.csv").write_text("id,what\n1,2\n", encoding="utf-8")
        assert main(["usage", "import", str(tmp_path / "hdr.csv"), "--quiet"]) == 2
        capsys.readouterr()
    finally:
        set_container(None)
    assert_audit_ok(db)
