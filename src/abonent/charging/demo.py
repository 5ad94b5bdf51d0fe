"""Demo data of charging: the demo catalogue and a tariff (and an option) for demo numbers."""

from __future__ import annotations

from pathlib import Path

from abonent.bootstrap import Container
from abonent.catalog.services import current_catalogue, load_catalogue
from abonent.charging import services
from abonent.core.errors import AbonentError
from abonent.core.msisdn import parse_msisdn

DEMO_CATALOGUE = Path(__file__).resolve().parent.parent / "catalog" / "demo.yaml"

# number → (tariff, options). 7471234567 has no money: its tariff starts lapsed and renews
# on the first top-up; the postpaid company accrues its fee for the bill.
DEMO_PLANS: dict[str, tuple[str, tuple[str, ...]]] = {
    "7071234567": ("DAILY", ("GUDOK",)),
    "7071234568": ("PAYG", ()),
    "7001234567": ("ZHAS", ()),
    "7471234567": ("ZHAS", ()),
    "7081234567": ("BIZNES", ()),
    "7011112233": ("DAILY", ()),
}


def load_charging_demo(c: Container) -> list[str]:
    added: list[str] = []
    text = DEMO_CATALOGUE.read_text(encoding="utf-8")
    if not current_catalogue(c.db).version:
        result = load_catalogue(c.db, text, actor="demo")
        added.append(f"catalogue {result.version}")
    for number, (tariff, options) in DEMO_PLANS.items():
        with c.db.reading() as uow:
            if uow.subscribers.by_msisdn(parse_msisdn(number)) is None:
                continue
        if services.subscription_summary(c.db, number) is not None:
            continue
        try:
            services.change_tariff(c.db, number, tariff, actor="demo", allow_unpaid=True)
            for option in options:
                services.connect_option(c.db, number, option, actor="demo")
        except AbonentError:
            continue  # the catalogue in force may not offer it to this number; skip the demo
        added.append(f"tariff {tariff} for {number}")
    return added
