"""``abonent subscriber ...`` and ``abonent brand ...`` commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from abonent.cli_support import actor, console, container, print_json
from abonent.core.errors import ValidationError
from abonent.core.money import format_tenge, parse_tenge
from abonent.core.msisdn import display, national10
from abonent.subscribers import services
from abonent.subscribers.domain import Brand, PaymentType, parse_language, parse_status

subscriber_app = typer.Typer(help="Register and inspect subscribers.", no_args_is_help=True)
brand_app = typer.Typer(help="Brands and the number-prefix table.", no_args_is_help=True)


@subscriber_app.command("add")
def add(
    msisdn: Annotated[str, typer.Argument(help="7071234567, 87071234567 or +7 707 123 45 67")],
    name: Annotated[str, typer.Option("--name", help="Full name of the person")],
    iin: Annotated[str | None, typer.Option("--iin", help="12-digit IIN")] = None,
    postpaid: Annotated[
        bool, typer.Option("--postpaid", help="Monthly bill instead of prepaid")
    ] = False,
    balance: Annotated[str, typer.Option("--balance", help="Opening balance in tenge")] = "0",
    language: Annotated[str, typer.Option("--language", help="ru, kk or en")] = "ru",
    email: Annotated[str | None, typer.Option("--email")] = None,
    brand: Annotated[str | None, typer.Option("--brand", help="Brand of a ported number")] = None,
) -> None:
    """Register a number with its balance account."""
    c = container()
    view = services.add_subscriber(
        c.db,
        services.NewSubscriber(
            msisdn=msisdn,
            name=name,
            iin=iin,
            payment_type=PaymentType.POSTPAID if postpaid else PaymentType.PREPAID,
            opening_balance=parse_tenge(balance, field="balance"),
            language=parse_language(language),
            email=email,
            brand=brand,
        ),
        actor=actor(),
        postpaid_credit_limit=c.settings.postpaid_credit_limit_tiyn,
    )
    console.print(
        f"added {display(view.subscriber.msisdn)} ({view.subscriber.brand}, "
        f"{view.subscriber.payment_type.value}), balance {format_tenge(view.balance)} ₸"
    )


def view_as_json(view: services.SubscriberView) -> dict[str, Any]:
    s = view.subscriber
    return {
        "msisdn": national10(s.msisdn),
        "e164": s.msisdn,
        "name": s.name,
        "iin": s.iin,
        "status": s.status.value,
        "brand": s.brand,
        "home_network": view.home_network,
        "payment_type": s.payment_type.value,
        "language": s.language.value,
        "email": s.email,
        "balance_tiyn": view.balance,
        "balance": format_tenge(view.balance),
        "floor_tiyn": view.floor,
        "created_at": s.created_at.isoformat(),
    }


@subscriber_app.command("show")
def show(
    msisdn: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Show a subscriber with the live balance."""
    data = view_as_json(services.get_subscriber(container().db, msisdn))
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


@subscriber_app.command("set-status")
def set_status(
    msisdn: str,
    status: Annotated[str, typer.Argument(help="active, suspended, barred or closed")],
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Move a number to another lifecycle status (transitions are enforced)."""
    subscriber = services.set_status(
        container().db, msisdn, parse_status(status), actor=actor(), reason=reason
    )
    console.print(f"{display(subscriber.msisdn)} is now {subscriber.status.value}")


@brand_app.command("list")
def list_brands() -> None:
    """Brands with their prefixes."""
    with container().db.reading() as uow:
        all_brands = uow.subscribers.all_brands()
        prefixes = uow.subscribers.prefixes()
    table = Table("code", "name", "own brand", "prefixes")
    for b in all_brands:
        owned = sorted(p for p, code in prefixes.items() if code == b.code)
        table.add_row(b.code, b.name, "yes" if b.home else "no", " ".join(owned))
    console.print(table)


@brand_app.command("set")
def set_brand(
    code: str,
    name: Annotated[str, typer.Option("--name")],
    home: Annotated[bool, typer.Option("--home/--foreign", help="Run by this operator?")] = False,
) -> None:
    """Create or change a brand."""
    if not code.isascii() or not code.isalnum() or len(code) > 20:
        raise ValidationError("brand code must be letters and digits, at most 20")
    with container().db.uow() as uow:
        uow.subscribers.upsert_brand(Brand(code.lower(), name, home))
        uow.commit()
    console.print(f"brand {code.lower()} saved")


@brand_app.command("set-prefix")
def set_prefix(prefix: str, brand: str) -> None:
    """Map a 3-digit number prefix (e.g. 707) to a brand."""
    if not (len(prefix) == 3 and prefix.isascii() and prefix.isdigit()):
        raise ValidationError("prefix must be 3 digits, e.g. 707")
    with container().db.uow() as uow:
        if uow.subscribers.brand(brand) is None:
            raise ValidationError(f"unknown brand {brand!r}")
        uow.subscribers.set_prefix(prefix, brand)
        uow.commit()
    console.print(f"prefix {prefix} → {brand}")
