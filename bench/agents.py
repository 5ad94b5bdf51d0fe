"""``abonent bench agents``: payment agents hammering the real HTTP endpoint.

For each database (SQLite file with WAL and ``synchronous=FULL``; PostgreSQL with
``synchronous_commit=on``) the command migrates a fresh database, registers ``--agents`` OSMP
and Kaspi agents (argon2 passwords, HTTP Basic) and ``--subscribers`` numbers, starts
``abonent serve`` as a subprocess on loopback, and runs ``--clients`` simulated agents: each
sends ``check`` then ``pay`` (a fresh txn_id each time) over keep-alive HTTP for ``--seconds``.

Reported: payments/s (acknowledged pays with result 0), p50/p99 of one check+pay exchange and
of the pay alone. Then it checks that nothing was lost or doubled: every acknowledged pay is
stored exactly once with the prv_txn it was answered with, re-sending a sample of them replays
the same prv_txn without a new credit, the balances equal the acknowledged sums, and the ledger
audit passes. pgbench TPC-B runs with the same client count on the same PostgreSQL.
Targets (2 cores): ≥ 2,000 payments/s on SQLite, ≥ 1,500/s on PostgreSQL, p99 ≤ 20 ms.
"""

from __future__ import annotations

import base64
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import sqlalchemy as sa
import typer

from abonent.agents import services as agents
from abonent.agents.tables import agent_payments
from abonent.bootstrap import build
from abonent.core.money import format_tenge, tenge
from abonent.ledger.services import audit_ledger
from abonent.payments.tables import payments
from abonent.settings import Settings
from abonent.subscribers import services as subscribers
from bench import common

TARGETS = {
    "SQLite": common.Target(2_000, "payments/s"),
    "PostgreSQL": common.Target(1_500, "payments/s"),
}
P99_TARGET = common.Target(20, "ms", at_least=False)
PASSWORD = "bench-agent-password"
DIALECTS = ("osmp", "kaspi")


@dataclass
class Ledgerbook:
    """What the simulated agents were told: (agent, txn_id) → (prv_txn, number, tiyn)."""

    acknowledged: dict[tuple[str, str], tuple[int, str, int]] = field(default_factory=dict)
    pay_latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Run:
    database: str
    throughput: common.Throughput
    pay_p50_ms: float
    pay_p99_ms: float
    exact: bool
    note: str
    server_cpu_us: float  # the server process's CPU time (user + system) per payment


def bench_agents(
    clients: Annotated[int, typer.Option("--clients", min=1, max=256)] = 16,
    seconds: Annotated[float, typer.Option("--seconds", min=1)] = 10.0,
    agent_count: Annotated[int, typer.Option("--agents", min=1, max=50)] = 4,
    subscriber_count: Annotated[int, typer.Option("--subscribers", min=1, max=5000)] = 200,
    postgres_url: Annotated[
        str | None, typer.Option("--postgres-url", help="Use this server, not a throwaway one")
    ] = None,
    sqlite_only: Annotated[bool, typer.Option("--sqlite-only")] = False,
    write: Annotated[bool, typer.Option("--write/--no-write", help="Update the doc")] = True,
) -> None:
    """Agents sending check+pay over HTTP to a real server: payments/s, p50/p99, exactness."""
    report = common.Report(
        "agents", "payment agents over HTTP (check + pay)", command=common.command_line()
    )
    runs: list[Run] = []
    pg_version = "not used"
    with tempfile.TemporaryDirectory(prefix="abonent-bench-agents-") as tmp:
        workdir = Path(tmp)
        with common.bench_progress() as progress:
            url = common.sqlite_database(workdir, "agents.sqlite3")
            runs.append(
                _run_backend(
                    "SQLite", url, clients, seconds, agent_count, subscriber_count, progress
                )
            )
            if not sqlite_only:
                with common.postgres(postgres_url) as pg:
                    pg_version = pg.version
                    url = pg.create_database("abonent_bench_agents")
                    common.migrate(url)
                    runs.append(
                        _run_backend(
                            "PostgreSQL",
                            url,
                            clients,
                            seconds,
                            agent_count,
                            subscriber_count,
                            progress,
                        )
                    )
                    report.pgbench = pg.pgbench(clients=clients, seconds=seconds, progress=progress)
        report.machine = common.describe_machine(pg_version, disk_dir=workdir)
    for run in runs:
        t = run.throughput
        report.add(
            common.Figure(
                f"{run.database}, {clients} agents, check+pay",
                t.rate,
                "payments/s",
                target=TARGETS[run.database],
                vs_pgbench=run.database == "PostgreSQL",
                note=run.note,
                latency_ms=(t.percentile_ms(50), t.percentile_ms(99)),
            )
        )
        report.add(
            common.Figure(
                f"{run.database}, p99 of pay alone",
                run.pay_p99_ms,
                "ms",
                target=P99_TARGET,
                note=f"p50 {run.pay_p50_ms:.2f} ms",
                latency_ms=(run.pay_p50_ms, run.pay_p99_ms),
            )
        )
        report.add(
            common.Figure(
                f"{run.database}, CPU per payment (server / load generator)",
                run.server_cpu_us,
                "µs",
                note=(
                    f"server {run.server_cpu_us:,.0f} µs, load generator "
                    f"{t.cpu_us_per_operation:,.0f} µs per check+pay; 2 cores = "
                    f"{2e6 / max(run.server_cpu_us, 1):,.0f} payments/s if the server had them"
                ),
            )
        )
    report.notes += [
        "Server: `abonent serve` (one uvicorn process, one event loop, blocking database work in "
        "its thread pool); load generator: this process, `--clients` threads with keep-alive "
        "httpx clients, on the same 2 cores.",
        "Each payment writes its credit, receipt, agent row, SMS and audit row. On both "
        "databases the endpoint group-commits concurrent pays: one transaction per batch; the "
        "new pays for distinct numbers are written with bulk statements (one ledger batch with "
        "one balance update per account, one INSERT each for payments, SMS, audit and agent "
        "rows), the top-up hooks still run per pay; repeats and a number twice in a batch go "
        "one by one in savepoints.",
        "CPU per payment: the server process's user + system time over the run divided by the "
        "payments acknowledged (it includes the `check` and the HTTP handling of both "
        "requests); steadier than payments/s on a shared machine. 2 cores ÷ that figure is "
        "the rate the server could reach with both cores to itself.",
    ]
    common.print_report(report)
    if write:
        common.write_report(report)
    if not all(run.exact for run in runs):
        raise typer.Exit(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str, agent_count: int, subscriber_count: int) -> tuple[list[str], list[str]]:
    container = build(Settings(database_url=url, log_json=False))
    try:
        numbers = []
        for n in range(subscriber_count):
            national = f"707{n:07d}"
            subscribers.add_subscriber(
                container.db,
                subscribers.NewSubscriber(national, f"Bench {n}"),
                actor="bench",
                postpaid_credit_limit=0,
            )
            numbers.append(national)
        codes = []
        for n in range(agent_count):
            code = f"BENCH{n}"
            agents.add_agent(
                container.db,
                agents.NewAgent(
                    code,
                    f"Bench agent {n}",
                    DIALECTS[n % len(DIALECTS)],
                    PASSWORD,
                    min_sum=tenge(1),
                    max_sum=tenge(100_000),
                ),
                actor="bench",
            )
            codes.append(code)
    finally:
        container.close()
    return codes, numbers


def _start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ABONENT_DATABASE_URL": url, "ABONENT_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "abonent.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise common.BenchError("the server exited at start")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise common.BenchError("the server did not start in 60 s")


def _result(dialect: str, response: httpx.Response) -> tuple[int, int | None]:
    if dialect == "kaspi":
        data = response.json()
        return int(data["result"]), data.get("prv_txn_id")
    root = ET.fromstring(response.content)
    prv = root.findtext("prv_txn")
    return int(root.findtext("result") or -1), int(prv) if prv else None


def _run_backend(
    database: str,
    url: str,
    clients: int,
    seconds: float,
    agent_count: int,
    subscriber_count: int,
    progress: object,
) -> Run:
    codes, numbers = _seed(url, agent_count, subscriber_count)
    port = _free_port()
    server = _start_server(url, port)
    book = Ledgerbook()
    try:
        http = [
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for _ in range(clients)
        ]
        counters = [0] * clients
        rng = [random.Random(i) for i in range(clients)]

        def auth(code: str) -> dict[str, str]:
            token = base64.b64encode(f"{code}:{PASSWORD}".encode()).decode()
            return {"authorization": f"Basic {token}"}

        headers = {code: auth(code) for code in codes}

        def step(index: int) -> int:
            code = codes[index % len(codes)]
            dialect = DIALECTS[(index % len(codes)) % len(DIALECTS)]
            counters[index] += 1
            txn_id = f"{index:03d}{counters[index]:09d}"
            account = rng[index].choice(numbers)
            amount = rng[index].randint(100, 5000) * 100
            base = {"txn_id": txn_id, "account": account, "sum": format_tenge(amount)}
            client = http[index]
            checked = client.get(
                f"/agents/{code}", params={**base, "command": "check"}, headers=headers[code]
            )
            if _result(dialect, checked)[0] != 0:
                raise common.BenchError(f"check refused: {checked.text[:200]}")
            began = time.perf_counter()
            paid = client.get(
                f"/agents/{code}",
                params={**base, "command": "pay", "txn_date": "20260115091500"},
                headers=headers[code],
            )
            took = time.perf_counter() - began
            result, prv = _result(dialect, paid)
            if result != 0 or prv is None:
                return 0  # a retryable answer: the agent would repeat it later
            with book.lock:
                book.acknowledged[(code, txn_id)] = (prv, account, amount)
                book.pay_latencies.append(took)
            return 1

        for code in codes:  # warm up: argon2 once per agent, connections opened
            step(codes.index(code))
        book.acknowledged.clear()
        book.pay_latencies.clear()
        server_cpu_before = _cpu_seconds(server.pid)
        throughput = common.run_clients(
            clients,
            seconds,
            step,
            progress=progress,  # type: ignore[arg-type]
            label=f"{database}: {clients} agents",
            unit="payments",
        )
        server_cpu = _cpu_seconds(server.pid) - server_cpu_before
        resent = _resend_sample(http[0], book, codes, headers)
        for client in http:
            client.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    exact, note = _verify(url, book, resent)
    ordered = sorted(book.pay_latencies)

    def pct(p: float) -> float:
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000

    per_payment = server_cpu / throughput.operations * 1e6 if throughput.operations else 0.0
    return Run(database, throughput, pct(50), pct(99), exact, note, per_payment)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _resend_sample(
    client: httpx.Client,
    book: Ledgerbook,
    codes: list[str],
    headers: dict[str, dict[str, str]],
) -> int:
    """Re-send up to 200 acknowledged pays: each must replay its prv_txn."""
    sample = list(book.acknowledged.items())[:200]
    for (code, txn_id), (prv, account, amount) in sample:
        dialect = DIALECTS[codes.index(code) % len(DIALECTS)]
        again = client.get(
            f"/agents/{code}",
            params={
                "command": "pay",
                "txn_id": txn_id,
                "account": account,
                "sum": format_tenge(amount),
                "txn_date": "20260115091500",
            },
            headers=headers[code],
        )
        if _result(dialect, again) != (0, prv):
            raise common.BenchError(f"replay of {code}/{txn_id} answered {again.text[:200]}")
    return len(sample)


def _verify(url: str, book: Ledgerbook, resent: int) -> tuple[bool, str]:
    container = build(Settings(database_url=url, log_json=False))
    try:
        with container.db.reading() as uow:
            rows = uow.connection.execute(
                sa.select(
                    agent_payments.c.txn_id, agent_payments.c.payment_id, agent_payments.c.amount
                )
            ).all()
            paid_total = uow.connection.execute(
                sa.select(sa.func.coalesce(sa.func.sum(payments.c.amount), 0))
            ).scalar_one()
        audit = audit_ledger(container.db)
    finally:
        container.close()
    stored = {(str(t), int(p)) for t, p, _ in rows}
    told = {(txn, prv) for (_, txn), (prv, _, _) in book.acknowledged.items()}
    lost = len(told - stored)
    extra = len(rows) - len(told)  # stored without an acknowledgement (warm-up, retried)
    acknowledged_sum = sum(a for _, _, a in book.acknowledged.values())
    exact = lost == 0 and len({p for _, p in stored}) == len(rows) and audit.ok
    note = (
        f"{len(book.acknowledged):,} acknowledged, {lost} lost, "
        f"{len(rows) - len(stored)} doubled, {max(extra, 0)} unacknowledged stored, "
        f"{resent} re-sent → same prv_txn; audit {'ok' if audit.ok else 'FAILED'}"
    )
    if int(paid_total) < acknowledged_sum:
        exact = False
        note += "; credited sum below acknowledged"
    return exact, note
