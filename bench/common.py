"""What every ``abonent bench ...`` command shares: the machine, the databases, pgbench, the report.

A benchmark module (``bench/<name>.py``) measures one thing and uses this module for the rest::

    from bench import common

    def bench_things(seconds: float = 5.0, postgres_url: str | None = None) -> None:
        report = common.Report("things", "Things per second", command=common.command_line())
        with common.bench_progress() as progress, common.postgres(postgres_url) as pg:
            url = pg.create_database("abonent_bench_things")      # dropped and made anew
            common.migrate(url)
            run = common.run_clients(4, seconds, step, progress=progress, label="things")
            report.add(common.Figure("PostgreSQL, 4 clients", run.rate, "things/s",
                                     target=common.Target(1_500, "things/s"), vs_pgbench=True,
                                     note="audit ok, 0 lost"))
            report.pgbench = pg.pgbench(clients=4, seconds=seconds, progress=progress)
        report.machine = common.describe_machine(pg.version, sqlite_dir=tmp)
        common.print_report(report)
        common.write_report(report)                         # the "things" section of the doc

Contracts:

- ``postgres(url)`` yields a server: the one at ``url`` (or ``$ABONENT_BENCH_POSTGRES_URL``) when
  given, else a throwaway cluster on a free loopback port (PostgreSQL binaries from
  ``$ABONENT_PG_BIN`` or ``/usr/lib/postgresql/*/bin``; run as the ``postgres`` user when we are
  root), stopped and deleted on exit. ``synchronous_commit`` and ``fsync`` stay on.
- ``sqlite_database(directory)`` makes a migrated SQLite file there; the engine gives it WAL and
  ``synchronous=FULL`` like production.
- ``run_clients(clients, seconds, step)`` calls ``step(client_index)`` in ``clients`` threads
  until the time is up; ``step`` does one unit of work and returns how many operations it
  acknowledged. Any exception stops the run and is raised again in the caller.
- ``PostgresServer.pgbench(clients, seconds)`` runs TPC-B (``pgbench -i -s 10`` then
  ``pgbench -c N -j N -T S``) in a database of its own on the same server; read ``.tps``.
- ``write_report(report)`` replaces the report's section of ``docs/benchmarks.md`` (found by its
  markers, one per benchmark name) and keeps every other section; it holds a file lock while it
  rewrites, so benchmarks may finish at the same time.
- ``peak_rss_mib()`` is this process's peak resident memory so far.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.engine import URL, make_url

from abonent.core.errors import AbonentError

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
POSTGRES_URL_ENV = "ABONENT_BENCH_POSTGRES_URL"
PGBENCH_SCALE = 10

# Wide enough for the report table even when the output is a file or a pipe.
console = Console(
    highlight=False, markup=False, width=max(120, shutil.get_terminal_size((160, 40)).columns)
)

_DOC_HEADER = """# Benchmarks

Produced by `abonent bench <name>`; each section is rewritten by the latest run of its
benchmark and names the machine, the date and the exact command. Every benchmark runs pgbench
TPC-B on the same PostgreSQL with the same client count in the same run, so a figure can be
judged against what the machine's PostgreSQL does with its own simplest transactions
("× pgbench" = our rate / pgbench tps). Figures from a shared or busy machine are noisy: the
load average at the start is recorded with each run.
"""


class BenchError(AbonentError):
    """A benchmark could not run (no PostgreSQL, pgbench failed...): one line for the user."""

    code = "bench_failed"


# -- the machine ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Machine:
    date: str
    cpu: str
    cores: int
    ram_gib: float
    os: str
    python: str
    sqlite: str
    postgres: str
    disk: str
    fsync_us: float
    load_average: str

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("date", self.date),
            ("CPU", f"{self.cpu}, {self.cores} cores"),
            ("RAM", f"{self.ram_gib:.1f} GiB"),
            ("OS", self.os),
            ("Python", self.python),
            ("SQLite", self.sqlite),
            ("PostgreSQL", self.postgres),
            ("disk", f"{self.disk}; fsync of a 4 KiB write ≈ {self.fsync_us:.0f} µs"),
            ("load average (1, 5, 15 min)", self.load_average),
        ]


def describe_machine(
    postgres_version: str = "not used", *, disk_dir: Path | None = None
) -> Machine:
    """Describe this machine; ``disk_dir`` is where the SQLite files live (default: temp dir)."""
    directory = disk_dir or Path(tempfile.gettempdir())
    return Machine(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        ram_gib=_ram_gib(),
        os=f"{_os_name()} (kernel {platform.release()})",
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        postgres=postgres_version,
        disk=_disk_of(directory),
        fsync_us=fsync_latency_us(directory),
        load_average=", ".join(f"{x:.2f}" for x in os.getloadavg()),
    )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.platform()


def _disk_of(directory: Path) -> str:
    """The device and file system holding ``directory`` (longest matching mount point)."""
    best = ("?", "/", "?")
    with contextlib.suppress(OSError):
        resolved = str(directory.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount_point, fs_type, *_ = line.split()
            inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best[1]):
                best = (device, mount_point, fs_type)
    return f"{best[0]} ({best[2]}) at {best[1]}"


def fsync_latency_us(directory: Path, rounds: int = 200) -> float:
    """Median time of overwriting 4 KiB and ``fdatasync``-ing it: the floor of a durable commit."""
    samples: list[float] = []
    block = b"\0" * 4096
    with tempfile.NamedTemporaryFile(dir=directory, prefix="fsync-probe-") as probe:
        fd = probe.fileno()
        os.write(fd, block * 16)
        os.fsync(fd)
        for i in range(rounds):
            os.pwrite(fd, block, (i % 16) * 4096)
            start = time.perf_counter()
            os.fdatasync(fd)
            samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2] * 1e6


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def command_line() -> str:
    """How this process was started, as ``abonent ...`` (for the report)."""
    args = [a for a in sys.argv[1:]]
    return "abonent " + shlex.join(args) if args else "abonent"


# -- progress and load ----------------------------------------------------------------------
def bench_progress() -> Progress:
    """The progress display every benchmark uses (a context manager)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )


@dataclass(frozen=True)
class Throughput:
    """What ``run_clients`` measured: operations acknowledged, wall time, per-step latencies."""

    operations: int
    seconds: float
    clients: int
    latencies: Sequence[float] = field(repr=False)  # seconds per step, every client
    cpu_seconds: float = 0.0  # user + system time of this whole process during the run

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_operation(self) -> float:
        """This process's CPU time per operation: steadier than rates on a busy machine."""
        return self.cpu_seconds / self.operations * 1e6 if self.operations else 0.0

    def percentile_ms(self, p: float) -> float:
        """Latency of one step at percentile ``p`` (0-100), in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000


def run_clients(
    clients: int,
    seconds: float,
    step: Callable[[int], int],
    *,
    progress: Progress | None = None,
    label: str = "running",
    unit: str = "ops",
) -> Throughput:
    """Call ``step(client)`` from ``clients`` threads for ``seconds``; sum what they acknowledge.

    Every thread starts together (a barrier) and stops at the first step that ends after the
    deadline; the rate is counted over the real elapsed time, so the last steps are included.
    """
    counts = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []
    stop = threading.Event()
    barrier = threading.Barrier(clients + 1)
    deadline = 0.0

    def client(index: int) -> None:
        barrier.wait()
        own = latencies[index]
        try:
            while not stop.is_set():
                began = time.perf_counter()
                counts[index] += step(index)
                ended = time.perf_counter()
                own.append(ended - began)
                if ended >= deadline:
                    break
        except BaseException as exc:  # re-raised in the caller
            failures.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=client, args=(i,), name=f"bench-{i}", daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    task = progress.add_task(label, total=seconds, status="") if progress is not None else None
    cpu_before = os.times()
    started = time.perf_counter()
    deadline = started + seconds
    barrier.wait()
    while any(t.is_alive() for t in threads):
        time.sleep(0.1)
        if progress is not None and task is not None:
            done = time.perf_counter() - started
            progress.update(
                task,
                completed=min(seconds, done),
                status=f"{sum(counts):,} {unit}, {sum(counts) / max(done, 1e-9):,.0f}/s",
            )
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join()
    cpu_after = os.times()
    if failures:
        raise failures[0]
    total = sum(counts)
    if progress is not None and task is not None:
        progress.update(
            task, completed=seconds, status=f"{total:,} {unit}, {total / elapsed:,.0f}/s"
        )
    return Throughput(
        operations=total,
        seconds=elapsed,
        clients=clients,
        latencies=[x for own in latencies for x in own],
        cpu_seconds=(cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
    )


# -- databases ------------------------------------------------------------------------------
def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (every head)."""
    from abonent.db.migrate import upgrade

    upgrade(url)


def sqlite_database(directory: Path, name: str = "bench.sqlite3") -> str:
    """A migrated SQLite file in ``directory`` (removed first if there); returns its URL."""
    path = directory / name
    for leftover in (path, path.with_name(name + "-wal"), path.with_name(name + "-shm")):
        leftover.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    migrate(url)
    return url


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    clients: int
    seconds: float
    scale: int
    latency_ms: float
    transactions: int

    def describe(self) -> str:
        return (
            f"pgbench TPC-B, scale {self.scale}, {self.clients} clients, {self.seconds:g} s: "
            f"{self.tps:,.0f} tps (average latency {self.latency_ms:.2f} ms)"
        )


@dataclass
class PostgresServer:
    """A PostgreSQL server to benchmark against (``url`` reaches its admin database)."""

    url: str
    throwaway: bool
    bin_dir: Path | None
    version: str = "?"

    def database_url(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def create_database(self, name: str) -> str:
        """Drop ``name`` if it exists, create it empty, return its SQLAlchemy URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise BenchError(f"not a plain database name: {name!r}")
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except sa.exc.SQLAlchemyError as exc:
            raise BenchError(f"cannot create database {name}: {exc.__class__.__name__}") from exc
        finally:
            admin.dispose()
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.dispose()

    def pgbench(
        self,
        clients: int,
        seconds: float,
        *,
        scale: int = PGBENCH_SCALE,
        progress: Progress | None = None,
        database: str = "abonent_pgbench",
    ) -> PgbenchResult:
        """TPC-B with ``clients`` connections and threads for ``seconds``, in its own database."""
        binary = _pgbench_binary(self.bin_dir)
        url = make_url(self.create_database(database))
        args, env = _libpq_args(url)
        task = (
            progress.add_task(f"pgbench -i -s {scale}", total=None, status="") if progress else None
        )
        _run([binary, "-i", "-q", "-s", str(scale), *args], env, what="pgbench -i")
        if progress is not None and task is not None:
            progress.update(task, total=1, completed=1, status="initialised")
        run_task = (
            progress.add_task(f"pgbench TPC-B · {clients} clients", total=seconds, status="")
            if progress
            else None
        )
        duration = max(1, round(seconds))
        command = [binary, "-c", str(clients), "-j", str(clients), "-T", str(duration), *args]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started = time.perf_counter()
        while process.poll() is None:
            time.sleep(0.2)
            if progress is not None and run_task is not None:
                progress.update(run_task, completed=min(duration, time.perf_counter() - started))
        out, err = process.communicate()
        if process.returncode != 0:
            last = (err.strip() or out.strip()).splitlines()[-1:]
            raise BenchError(f"pgbench failed: {' '.join(last)}")
        result = parse_pgbench(out, clients=clients, seconds=duration, scale=scale)
        if progress is not None and run_task is not None:
            progress.update(run_task, completed=duration, status=f"{result.tps:,.0f} tps")
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            self.drop_database(database)
        return result


def parse_pgbench(output: str, *, clients: int, seconds: float, scale: int) -> PgbenchResult:
    """Read tps, average latency and transactions from pgbench's report."""
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    if tps is None:
        raise BenchError(f"cannot read pgbench output: {output[-300:]}")
    return PgbenchResult(
        tps=float(tps.group(1)),
        clients=clients,
        seconds=seconds,
        scale=scale,
        latency_ms=float(latency.group(1)) if latency else 0.0,
        transactions=int(processed.group(1)) if processed else 0,
    )


@contextlib.contextmanager
def postgres(url: str | None = None) -> Iterator[PostgresServer]:
    """The server at ``url`` or ``$ABONENT_BENCH_POSTGRES_URL``, else a throwaway one."""
    given = url or os.environ.get(POSTGRES_URL_ENV, "")
    if given:
        parsed = make_url(given)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        server = PostgresServer(
            url=parsed.render_as_string(hide_password=False),
            throwaway=False,
            bin_dir=_pg_bin_dir(required=False),
        )
        server.version = _server_version(server.url)
        yield server
        return
    bin_dir = _pg_bin_dir(required=True)
    assert bin_dir is not None
    with tempfile.TemporaryDirectory(prefix="abonent-bench-pg-") as workdir:
        root = Path(workdir)
        root.chmod(0o755)
        data = root / "pg"
        data.mkdir()
        as_pg: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(data, user="postgres")
            as_pg = ["runuser", "-u", "postgres", "--"]
        port = _free_port()
        _run(
            [*as_pg, str(bin_dir / "initdb"), "-A", "trust", "-U", "postgres", "-D", str(data)],
            None,
            what="initdb",
        )
        options = (
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=300 "
            "-c fsync=on -c synchronous_commit=on -c shared_buffers=256MB "
            # Production-style checkpoint spacing (durability unchanged): the default 1 GB of
            # WAL would force checkpoints, and their full-page writes, in the middle of a
            # million-row run. pgbench runs on the same server with the same settings.
            "-c max_wal_size=8GB -c checkpoint_timeout=30min"
        )
        pg_ctl = str(bin_dir / "pg_ctl")
        _run(
            [
                *as_pg,
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(data / "log"),
                "-w",
                "-o",
                options,
                "start",
            ],
            None,
            what="pg_ctl start",
        )
        try:
            server = PostgresServer(
                url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                throwaway=True,
                bin_dir=bin_dir,
            )
            server.version = _server_version(server.url)
            yield server
        finally:
            subprocess.run(
                [*as_pg, pg_ctl, "-D", str(data), "-m", "fast", "stop"],
                capture_output=True,
                check=False,
            )


def _server_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            version = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
            shown = {
                name: str(conn.exec_driver_sql(f"SHOW {name}").scalar_one())
                for name in ("synchronous_commit", "fsync", "shared_buffers", "max_wal_size")
            }
    except sa.exc.OperationalError as exc:
        raise BenchError(f"PostgreSQL unreachable: {str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    return f"{version} ({', '.join(f'{k}={v}' for k, v in shown.items())})"


def _pg_bin_dir(*, required: bool) -> Path | None:
    env = os.environ.get("ABONENT_PG_BIN")
    if env and (Path(env) / "pg_ctl").exists():
        return Path(env)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists():
            return candidate
    if required:
        raise BenchError(
            "PostgreSQL is not installed (apt-get install postgresql); "
            f"give --postgres-url / ${POSTGRES_URL_ENV}, or use --sqlite-only"
        )
    return None


def _pgbench_binary(bin_dir: Path | None) -> str:
    if bin_dir is not None and (bin_dir / "pgbench").exists():
        return str(bin_dir / "pgbench")
    found = shutil.which("pgbench")
    if found is None:
        raise BenchError("pgbench not found (it comes with the postgresql package)")
    return found


def _libpq_args(url: URL) -> tuple[list[str], dict[str, str]]:
    args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    if url.username:
        args += ["-U", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return [*args, url.database or "postgres"], env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: list[str], env: dict[str, str] | None, *, what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise BenchError(f"{what} failed: {' '.join(last)}")


# -- the report -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A goal for one figure: at least (or, for latencies and times, at most) ``value``."""

    value: float
    unit: str
    at_least: bool = True

    def met(self, measured: float) -> bool:
        return measured >= self.value if self.at_least else measured <= self.value

    def __str__(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {_number(self.value)} {self.unit}"


@dataclass(frozen=True)
class Figure:
    """One measured line of a report. ``vs_pgbench``: show value / pgbench tps."""

    label: str
    value: float
    unit: str
    target: Target | None = None
    vs_pgbench: bool = False
    note: str = ""
    latency_ms: tuple[float, float] | None = None  # (p50, p99) of one operation or commit

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "met" if self.target.met(self.value) else "MISSED"


@dataclass
class Report:
    """Everything one benchmark run says; ``write_report`` turns it into its doc section."""

    name: str
    title: str
    command: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pgbench: PgbenchResult | None = None
    machine: Machine | None = None

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    @property
    def targets_met(self) -> bool:
        return all(f.target is None or f.target.met(f.value) for f in self.figures)

    def ratio(self, figure: Figure) -> str:
        if not figure.vs_pgbench or self.pgbench is None or not self.pgbench.tps:
            return ""
        return f"{figure.value / self.pgbench.tps:.2f}×"

    def markdown(self) -> str:
        lines = [f"## {self.name}: {self.title}", ""]
        when = self.machine.date if self.machine else datetime.now(UTC).strftime("%Y-%m-%d")
        lines += [f"Run on {when} with `{self.command}`.", ""]
        lines += ["| measurement | result | target | verdict | × pgbench | p50 / p99 | checked |"]
        lines += ["| --- | ---: | --- | --- | ---: | ---: | --- |"]
        for f in self.figures:
            lines.append(
                f"| {f.label} | {_number(f.value)} {f.unit} | {f.target or ''} | {f.verdict} "
                f"| {self.ratio(f)} | {_latency(f)} | {f.note} |"
            )
        lines.append("")
        if self.pgbench is not None:
            lines += [f"Baseline: {self.pgbench.describe()}, same server, same run.", ""]
        for note in self.notes:
            lines += [f"- {note}"]
        if self.notes:
            lines.append("")
        if self.machine is not None:
            lines += ["| machine | |", "| --- | --- |"]
            lines += [f"| {k} | {v} |" for k, v in self.machine.rows()]
            lines.append("")
        return "\n".join(lines)


def _latency(figure: Figure) -> str:
    if figure.latency_ms is None:
        return ""
    p50, p99 = figure.latency_ms
    return f"{p50:.2f} / {p99:.2f} ms"


def _number(value: float) -> str:
    if value >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def print_report(report: Report) -> None:
    table = Table(title=f"{report.name}: {report.title}")
    right = {"result", "× pgbench", "p50 / p99"}
    for column in (
        "measurement",
        "result",
        "target",
        "verdict",
        "× pgbench",
        "p50 / p99",
        "checked",
    ):
        table.add_column(column, justify="right" if column in right else "left")
    for f in report.figures:
        table.add_row(
            f.label,
            f"{_number(f.value)} {f.unit}",
            str(f.target or ""),
            f.verdict,
            report.ratio(f),
            _latency(f),
            f.note,
        )
    console.print(table)
    if report.pgbench is not None:
        console.print(f"baseline: {report.pgbench.describe()}")
    for note in report.notes:
        console.print(f"note: {note}")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def replace_section(document: str, name: str, body: str) -> str:
    """``document`` with the section of benchmark ``name`` set to ``body`` (appended if new)."""
    begin, end = _markers(name)
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _m: block, document, count=1)
    if not document.strip():
        document = _DOC_HEADER
    return document.rstrip() + "\n\n" + block + "\n"


def write_report(report: Report, path: Path = DOC_PATH) -> Path:
    """Replace ``report``'s section of the benchmarks document, under a file lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as document:
        fcntl.flock(document, fcntl.LOCK_EX)
        try:
            document.seek(0)
            updated = replace_section(document.read(), report.name, report.markdown())
            document.seek(0)
            document.truncate()
            document.write(updated)
        finally:
            fcntl.flock(document, fcntl.LOCK_UN)
    return path


def measure_databases(
    report: Report,
    measure: Callable[[str, str], list[str]],
    database_name: str,
    *,
    sqlite: bool = True,
    postgresql: bool = True,
    postgres_url: str | None = None,
) -> list[str]:
    """``measure(url, "SQLite")`` on a fresh SQLite file and ``measure(url, "PostgreSQL")`` on a
    fresh, migrated ``database_name`` (on a throwaway server unless ``postgres_url``), as asked;
    sets ``report.machine``; returns the failures the measurements reported."""
    failures: list[str] = []
    postgres_version = "not measured (--sqlite-only)"
    with tempfile.TemporaryDirectory(prefix="abonent-bench-") as workdir:
        if sqlite:
            failures += measure(sqlite_database(Path(workdir)), "SQLite")
        if postgresql:
            with postgres(postgres_url) as server:
                postgres_version = server.version
                url = server.create_database(database_name)
                migrate(url)
                failures += measure(url, "PostgreSQL")
                server.drop_database(database_name)
        report.machine = describe_machine(postgres_version, disk_dir=Path(workdir))
    return failures


def finish(report: Report, *, write: bool, failures: Sequence[str] = ()) -> None:
    """Print ``report``, write it to the benchmarks document if asked, and exit non-zero if a
    measurement failed its checks."""
    print_report(report)
    if write:
        console.print(f"written to {write_report(report)}")
    if failures:
        for failure in failures:
            console.print(f"FAILED {failure}")
        raise typer.Exit(1)


def postmaster_pid(engine: sa.Engine) -> int | None:
    """The PostgreSQL server's main process when it runs on this machine (else None), for
    counting the server's CPU beside the benchmark's own."""
    if engine.dialect.name != "postgresql":
        return None
    try:
        with engine.connect() as conn:
            data_directory = str(conn.exec_driver_sql("SHOW data_directory").scalar_one())
        pid = int((Path(data_directory) / "postmaster.pid").read_text().split()[0])
    except (sa.exc.SQLAlchemyError, OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None
