"""Feature CLI apps mounted on the root command; add a line when a feature gets commands."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    from abonent.agents.cli import agent_app
    from abonent.autopay.cli import autopay_app
    from abonent.bills.cli import bills_app
    from abonent.cabinet.staff import staff_app, support_app
    from abonent.cards.cli import cards_app
    from abonent.cashdesk.cli import cashdesk_app
    from abonent.charging.cli import register as register_charging
    from abonent.credit.cli import credit_app
    from abonent.payments.cli import payment_app
    from abonent.receipts.cli import receipts_app
    from abonent.sms.cli import sms_app
    from abonent.vouchers.cli import voucher_app
    from bench.cli import register_benchmarks

    app.add_typer(agent_app, name="agent")
    app.add_typer(payment_app, name="payment")
    register_charging(app)
    app.add_typer(voucher_app, name="voucher")
    app.add_typer(sms_app, name="sms")
    app.add_typer(credit_app, name="credit")
    app.add_typer(bills_app, name="bills")
    app.add_typer(cashdesk_app, name="cashdesk")
    app.add_typer(receipts_app, name="receipts")
    app.add_typer(support_app, name="support")
    app.add_typer(staff_app, name="staff")
    app.add_typer(cards_app, name="cards")
    app.add_typer(autopay_app, name="autopay")
    register_benchmarks(bench_app)
