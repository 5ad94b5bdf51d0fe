"""``abonent bench ...`` commands; each benchmark module adds its command here."""

from __future__ import annotations

import typer


def register_benchmarks(bench_app: typer.Typer) -> None:
    from bench import bills, cabinet, ledger

    bench_app.command("ledger")(ledger.bench_ledger)
    bench_app.command("bills")(bills.bench_bills)
    bench_app.command("cabinet")(cabinet.bench_cabinet)
