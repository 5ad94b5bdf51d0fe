"""Feature CLI apps mounted on the root command; add a line when a feature gets commands.

Importing every feature (and through them FastAPI, fpdf, the PDF fonts...) costs more than a
second, so a command that names its group imports only the feature that serves it; the root
help and commands outside the table import them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import typer

# Feature module -> how it mounts itself on (root app, bench app).
_Mount = Callable[[typer.Typer, typer.Typer], None]


def _group(module: str, attribute: str, name: str) -> _Mount:
    def mount(app: typer.Typer, _bench: typer.Typer) -> None:
        app.add_typer(getattr(importlib.import_module(module), attribute), name=name)

    return mount


def _charging(app: typer.Typer, _bench: typer.Typer) -> None:
    from abonent.charging.cli import register

    register(app)  # catalog, usage, jobs, statement and the subscriber's tariff commands


def _cabinet(app: typer.Typer, _bench: typer.Typer) -> None:
    from abonent.cabinet.staff import staff_app, support_app

    app.add_typer(support_app, name="support")
    app.add_typer(staff_app, name="staff")


def _benchmarks(_app: typer.Typer, bench_app: typer.Typer) -> None:
    from bench.cli import register_benchmarks

    register_benchmarks(bench_app)


_FEATURES: dict[str, _Mount] = {
    "agents": _group("abonent.agents.cli", "agent_app", "agent"),
    "payments": _group("abonent.payments.cli", "payment_app", "payment"),
    "charging": _charging,
    "vouchers": _group("abonent.vouchers.cli", "voucher_app", "voucher"),
    "sms": _group("abonent.sms.cli", "sms_app", "sms"),
    "credit": _group("abonent.credit.cli", "credit_app", "credit"),
    "bills": _group("abonent.bills.cli", "bills_app", "bills"),
    "cashdesk": _group("abonent.cashdesk.cli", "cashdesk_app", "cashdesk"),
    "receipts": _group("abonent.receipts.cli", "receipts_app", "receipts"),
    "cabinet": _cabinet,
    "cards": _group("abonent.cards.cli", "cards_app", "cards"),
    "autopay": _group("abonent.autopay.cli", "autopay_app", "autopay"),
    "benchmarks": _benchmarks,
}

# Command group typed first on the command line -> the features that serve it.
_SERVING: dict[str, tuple[str, ...]] = {
    "agent": ("agents",),
    "payment": ("payments",),
    "catalog": ("charging",),
    "usage": ("charging",),
    "jobs": ("charging",),
    "statement": ("charging",),
    "subscriber": ("charging",),
    "voucher": ("vouchers",),
    "sms": ("sms",),
    "credit": ("credit",),
    "bills": ("bills",),
    "cashdesk": ("cashdesk",),
    "receipts": ("receipts",),
    "support": ("cabinet",),
    "staff": ("cabinet",),
    "cards": ("cards",),
    "autopay": ("autopay",),
    "bench": ("benchmarks",),
    "db": (),
    "brand": (),
    "audit": (),
    "demo": (),
}


class FeatureCommands:
    """Mounts feature apps on demand, each once, however many commands run in one process."""

    def __init__(self, app: typer.Typer, bench_app: typer.Typer) -> None:
        self._app = app
        self._bench_app = bench_app
        self._mounted: set[str] = set()

    def mount_for(self, args: list[str]) -> None:
        """Mount what the command in ``args`` needs: its group's features, or all of them."""
        group = next((arg for arg in args if not arg.startswith("-")), None)
        needed = _SERVING.get(group, tuple(_FEATURES)) if group is not None else tuple(_FEATURES)
        for feature in needed:
            if feature not in self._mounted:
                _FEATURES[feature](self._app, self._bench_app)
                self._mounted.add(feature)
