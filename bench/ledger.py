"""Placeholder: replaced by the real ledger benchmark."""


def bench_ledger() -> None:
    """Durable ledger transfers per second (being written)."""
    raise SystemExit("not written yet")
