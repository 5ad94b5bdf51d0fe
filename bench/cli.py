"""``abonent bench ...`` commands; each benchmark module adds its command here."""

from __future__ import annotations

import typer


def register_benchmarks(bench_app: typer.Typer) -> None:
    from bench import bills, cabinet, ledger, rating, renewal

    bench_app.command("ledger")(ledger.bench_ledger)
    from bench import agents

    bench_app.command("agents")(agents.bench_agents)
    bench_app.command("bills")(bills.bench_bills)
    bench_app.command("cabinet")(cabinet.bench_cabinet)
    bench_app.command("renewal")(renewal.bench_renewal)
    bench_app.command("rating")(rating.bench_rating)
    from bench import ussd

    bench_app.command("ussd")(ussd.bench_ussd)
