"""The ``abonent`` command. Each feature mounts its own Typer app here.

Every command reports bad input as one line (``error [code]: message``) and a non-zero exit:
exit 2 for a usage or validation error, 1 for a refused operation or failed check,
3 when the database is unavailable. Never a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from sqlalchemy import exc as sa_exc

from abonent.cli_registry import FeatureCommands
from abonent.cli_support import console, container, err_console
from abonent.core.errors import AbonentError, StorageUnavailable, ValidationError
from abonent.db.uow import STORAGE_ERRORS
from abonent.subscribers.cli import brand_app, subscriber_app

app = typer.Typer(
    name="abonent",
    help="Abonent: balances, payments and self-service of a mobile operator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; figures go to docs/benchmarks.md.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(subscriber_app, name="subscriber")
app.add_typer(brand_app, name="brand")
app.add_typer(bench_app, name="bench")


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from abonent.db.migrate import upgrade

    url = container().settings.database_url
    upgrade(url, revision)
    console.print(f"database at {_safe_url(url)} is at revision {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Roll migrations back to REVISION ("base" removes everything)."""
    from abonent.db.migrate import downgrade

    downgrade(container().settings.database_url, revision)
    console.print(f"database downgraded to {revision}")


@app.command()
def demo() -> None:
    """Load demo brands, tariffs, subscribers and agents (safe to run again)."""
    from abonent.demo import load_demo

    added = load_demo(container())
    console.print(f"demo data loaded ({len(added)} new items)" if added else "demo data present")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes sharing the port; each builds its own container.",
        ),
    ] = 1,
) -> None:
    """Run the web server (API, agent endpoints, cabinet)."""
    import uvicorn

    # proxy_headers=False: uvicorn would otherwise take the client address from X-Forwarded-For
    # for loopback peers; the app decides that itself (``settings.trust_forwarded_for``).
    # httptools, never h11 (pure Python, several times the CPU a request): uvicorn[standard]
    # brings it, so its absence is an installation error, not something to run slowly with.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": "httptools",
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
    }
    console.print(
        f"Abonent is serving at http://{host}:{port}  (health: /healthz, API: /docs)"
        + (f"  [{workers} processes]" if workers > 1 else "")
    )
    if workers == 1:
        from abonent.web.app import create_app

        uvicorn.run(create_app(container()), **options)
    else:
        # Worker processes import the app by name; settings come from the environment.
        container()  # fail here, once, on bad settings rather than in every worker
        uvicorn.run(
            "abonent.web.app:app_from_environment", factory=True, workers=workers, **options
        )


@app.command()
def audit() -> None:
    """Recompute every balance from postings and check every ledger invariant."""
    from abonent.ledger.services import audit_ledger

    report = audit_ledger(container().db)
    f = report.figures
    console.print(
        f"accounts {f.accounts}, transactions {f.transactions}, postings {f.postings}, "
        f"sum of all balances {f.total_balance}"
    )
    for problem in report.problems[:100]:
        err_console.print(f"FAIL {problem}")
    if len(report.problems) > 100:
        err_console.print(f"... and {len(report.problems) - 100} more")
    if not report.ok:
        console.print(f"audit FAILED: {len(report.problems)} problems")
        raise typer.Exit(1)
    console.print("audit OK: every transaction sums to zero, every balance equals its postings")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


_feature_commands: FeatureCommands | None = None


def _register_feature_commands(args: list[str]) -> None:
    global _feature_commands
    if _feature_commands is None:
        _feature_commands = FeatureCommands(app, bench_app)
    _feature_commands.mount_for(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every failure into one line and an exit code."""
    _register_feature_commands(sys.argv[1:] if argv is None else argv)
    try:
        # Without standalone mode click returns (not raises) the code of ``typer.Exit(n)``.
        outcome = app(args=argv, standalone_mode=False)
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except typer.TyperException as usage:
        # Usage errors (missing argument, unknown option); "no arguments" shows the help.
        message = usage.format_message() if hasattr(usage, "format_message") else str(usage)
        if type(usage).__name__ == "NoArgsIsHelpError":
            err_console.print(message)
        else:
            err_console.print(f"error [usage]: {message}")
        return 2
    except StorageUnavailable as exc:
        err_console.print(f"error [{exc.code}]: {exc.message}")
        return 3
    except ValidationError as exc:
        err_console.print(f"error [{exc.code}]: {exc.message}")
        return 2
    except AbonentError as exc:
        err_console.print(f"error [{exc.code}]: {exc.message}")
        return 1
    except OSError as exc:
        err_console.print(f"error [os_error]: {exc}")
        return 1
    except STORAGE_ERRORS as exc:
        # Raised outside a unit of work (migrations): the same answer as StorageUnavailable.
        err_console.print(
            f"error [storage_unavailable]: the database is unavailable: {_first(exc)}"
        )
        return 3
    except sa_exc.SQLAlchemyError as exc:
        # Typically a database that was never migrated (`abonent db upgrade` first).
        err_console.print(f"error [database_error]: {_first(exc)}")
        return 1
    return outcome if isinstance(outcome, int) and not isinstance(outcome, bool) else 0


def _first(exc: BaseException) -> str:
    """The first line of a driver's error: enough to act on, never a traceback."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


if __name__ == "__main__":
    sys.exit(main())
