"""The benchmark plumbing every ``abonent bench`` command shares (no database, no timing)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from bench import common

PGBENCH_OUTPUT = """\
pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
query mode: simple
number of clients: 8
number of threads: 8
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 16912
number of failed transactions: 0 (0.000%)
latency average = 2.361 ms
initial connection time = 10.731 ms
tps = 3388.311544 (without initial connection time)
"""


def _report(name: str, value: float) -> common.Report:
    report = common.Report(name, "things per second", "abonent bench things")
    report.add(
        common.Figure(
            "SQLite, 1 client",
            value,
            "things/s",
            target=common.Target(3_000, "things/s"),
            vs_pgbench=True,
            latency_ms=(0.5, 2.25),
        )
    )
    report.pgbench = common.PgbenchResult(
        tps=2_000, clients=8, seconds=5, scale=10, latency_ms=2.0, transactions=10_000
    )
    return report


def test_pgbench_report_is_read() -> None:
    result = common.parse_pgbench(PGBENCH_OUTPUT, clients=8, seconds=5, scale=10)
    assert result.tps == pytest.approx(3388.311544)
    assert result.latency_ms == pytest.approx(2.361)
    assert result.transactions == 16912


def test_unreadable_pgbench_output_is_a_bench_error() -> None:
    with pytest.raises(common.BenchError):
        common.parse_pgbench("FATAL: no such database", clients=1, seconds=1, scale=10)


def test_targets_compare_in_their_direction() -> None:
    at_least = common.Target(3_000, "transfers/s")
    at_most = common.Target(20, "ms", at_least=False)
    assert at_least.met(3_000) and not at_least.met(2_999.9)
    assert at_most.met(20) and not at_most.met(20.1)
    assert str(at_least) == "≥ 3,000 transfers/s"
    assert str(at_most) == "≤ 20 ms"


def test_a_report_shows_verdict_ratio_to_pgbench_and_latency() -> None:
    text = _report("things", 4_000).markdown()
    assert "| SQLite, 1 client | 4,000 things/s | ≥ 3,000 things/s | met | 2.00× |" in text
    assert "0.50 / 2.25 ms" in text
    assert "pgbench TPC-B, scale 10, 8 clients" in text
    assert "MISSED" in _report("things", 10).markdown()


def test_a_section_is_appended_then_replaced_and_others_are_kept(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    common.write_report(_report("first", 1_000), doc)
    common.write_report(_report("second", 2_000), doc)
    common.write_report(_report("first", 5_000), doc)

    text = doc.read_text()
    assert text.startswith("# Benchmarks")
    assert text.count("<!-- bench:first:begin -->") == 1
    assert "5,000 things/s" in text and "1,000 things/s" not in text
    assert "2,000 things/s" in text
    assert text.index("bench:first:begin") < text.index("bench:second:begin")


def test_replace_section_leaves_text_around_it_alone() -> None:
    document = (
        "# Benchmarks\n\nintro\n\n<!-- bench:x:begin -->\nold\n<!-- bench:x:end -->\n\ntail\n"
    )
    updated = common.replace_section(document, "x", "new")
    assert updated == document.replace("\nold\n", "\nnew\n")


def test_throughput_percentiles_and_rate() -> None:
    run = common.Throughput(
        operations=100, seconds=2.0, clients=1, latencies=[i / 1000 for i in range(1, 101)]
    )
    assert run.rate == 50
    assert run.percentile_ms(50) == pytest.approx(50)
    assert run.percentile_ms(99) == pytest.approx(99)
    assert common.Throughput(0, 1.0, 1, []).percentile_ms(99) == 0


def test_run_clients_counts_what_every_client_acknowledges() -> None:
    seen: set[int] = set()

    def step(client: int) -> int:
        seen.add(client)
        return 2

    run = common.run_clients(3, 0.05, step)
    assert seen == {0, 1, 2}
    assert run.operations == 2 * len(run.latencies) > 0


def test_run_clients_raises_what_a_client_raised() -> None:
    def step(client: int) -> int:
        raise common.BenchError(f"client {client} failed")

    with pytest.raises(common.BenchError):
        common.run_clients(2, 5, step)


def test_the_machine_is_described(tmp_path: Path) -> None:
    machine = common.describe_machine("15.18", disk_dir=tmp_path)
    rows = dict(machine.rows())
    assert machine.cores >= 1
    assert rows["PostgreSQL"] == "15.18"
    assert "fsync" in rows["disk"]


def test_measure_databases_runs_sqlite_alone_and_describes_the_machine() -> None:
    report = _report("things", 3_100)
    seen: list[tuple[str, str]] = []

    def measure(url: str, database: str) -> list[str]:
        seen.append((url, database))
        return [f"{database}: one lost"]

    failures = common.measure_databases(report, measure, "unused", postgresql=False)

    assert [database for _, database in seen] == ["SQLite"]
    assert seen[0][0].startswith("sqlite:///")
    assert failures == ["SQLite: one lost"]
    assert report.machine is not None
    assert report.machine.postgres == "not measured (--sqlite-only)"


def test_finish_exits_non_zero_only_when_a_check_failed() -> None:
    report = _report("things", 3_100)

    common.finish(report, write=False)  # nothing failed: returns
    with pytest.raises(typer.Exit) as failed:
        common.finish(report, write=False, failures=["SQLite: 2 doubled"])

    assert failed.value.exit_code == 1
