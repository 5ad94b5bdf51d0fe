"""Demo vouchers: a small active batch whose codes go to ``var/demo-vouchers.csv``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from abonent.bootstrap import Container
from abonent.core.money import format_tenge, tenge
from abonent.vouchers import services
from abonent.vouchers.domain import PrintedVoucher, VoucherBatch

DEMO_ACTOR = "demo"
DEMO_FILE = Path("var") / "demo-vouchers.csv"
DEMO_BATCHES = ((tenge(500), 5), (tenge(1000), 5))


def load_demo_vouchers(c: Container, path: Path = DEMO_FILE) -> list[str]:
    """Create and activate the demo batches once; their codes are printed to ``path``."""
    with c.db.reading() as uow:
        if services.vouchers_of(uow).batches_created_by(DEMO_ACTOR):
            return []
    printed: list[PrintedVoucher] = []

    def keep(_: VoucherBatch, chunk: Sequence[PrintedVoucher]) -> None:
        printed.extend(chunk)

    added = []
    for nominal, count in DEMO_BATCHES:
        batch = services.create_batch(
            c.db, nominal=nominal, count=count, actor=DEMO_ACTOR, export=keep, settings=c.settings
        )
        services.activate_batch(c.db, batch.id, actor=DEMO_ACTOR, settings=c.settings)
        added.append(f"voucher batch {batch.number} ({count} × {format_tenge(nominal)} ₸)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(
        "batch,serial,nominal,code\n"
        + "".join(f"{v.batch},{v.serial},{format_tenge(v.nominal)},{v.code}\n" for v in printed),
        encoding="ascii",
    )
    partial.replace(path)
    return added
