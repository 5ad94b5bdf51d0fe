"""Feature CLI apps mounted on the root command; add a line when a feature gets commands."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    from bench.cli import register_benchmarks

    register_benchmarks(bench_app)
