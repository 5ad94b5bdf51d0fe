"""``abonent catalog ...`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from abonent.catalog import services
from abonent.cli_support import actor, console, container
from abonent.core.errors import ValidationError
from abonent.core.money import format_tenge

catalog_app = typer.Typer(
    help="Tariffs and options (the versioned catalogue).", no_args_is_help=True
)


@catalog_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="Catalogue file (YAML)")],
) -> None:
    """Validate and load a catalogue file; an invalid file changes nothing."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{file} is not UTF-8 text") from None
    result = services.load_catalogue(container().db, text, actor=actor())
    state = "already loaded, unchanged" if result.unchanged else "loaded"
    console.print(
        f"catalogue {result.version} {state}: {result.tariffs} tariffs, {result.options} options"
    )


@catalog_app.command("show")
def show() -> None:
    """The catalogue in force."""
    catalogue = services.current_catalogue(container().db)
    if not catalogue.version:
        console.print("no catalogue loaded (abonent catalog load FILE)")
        return
    table = Table("code", "kind", "name", "period", "fee ₸", "active")
    for p in catalogue.products.values():
        table.add_row(
            p.code,
            p.kind.value,
            p.name("ru"),
            p.period.value,
            format_tenge(p.fee),
            "yes" if p.active else "no",
        )
    console.print(f"catalogue {catalogue.version}")
    console.print(table)
