"""The catalogue of tariffs and options, free of storage and file formats.

A catalogue document is a mapping (read from YAML by ``catalog.loader``) whose mappings and
lists remember the line they came from (``LineDict`` / ``LineList``), so every refusal names the
line and the reason. ``parse_catalogue`` validates the whole document and returns a
``Catalogue`` or raises ``InvalidCatalogue`` listing every problem; nothing is half-loaded.

Periods: ``day`` (24 hours), ``30_days`` and ``calendar_month`` (the same day next month,
clamped to the month's end and anchored to the day the subscription started, so 31 Jan →
29 Feb (leap year) → 31 Mar, never drifting to the 29th).
"""

from __future__ import annotations

import calendar
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from abonent.core.errors import ValidationError
from abonent.core.money import Tiyn, parse_tenge

LANGUAGES = ("ru", "kk", "en")
PAYMENT_TYPES = frozenset({"prepaid", "postpaid"})
MAX_CODE = 40
DEFAULT_COLLECT_CALL_PER_MINUTE: Tiyn = 1300
DEFAULT_FULL_STATEMENT_FEE: Tiyn = 3000


class InvalidCatalogue(ValidationError):
    """The catalogue file is refused as a whole; ``problems`` lists (line, reason) pairs."""

    code = "invalid_catalogue"

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"line {line}: {reason}" for line, reason in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(
            f"catalogue refused: {shown}{more}", line=problems[0][0] if problems else 0
        )
        self.problems = problems


class LineDict(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class Period(StrEnum):
    DAY = "day"
    DAYS_30 = "30_days"
    CALENDAR_MONTH = "calendar_month"


class Rounding(StrEnum):
    PER_SECOND = "per_second"
    PER_MINUTE = "per_minute"  # every started minute counts in full


class ProductKind(StrEnum):
    TARIFF = "tariff"
    OPTION = "option"


def add_months(moment: datetime, months: int, anchor_day: int | None = None) -> datetime:
    """``moment`` plus whole months, on ``anchor_day`` (default: moment's day) clamped to the
    month's length: add_months(31 Jan, 1) is 29 Feb in a leap year, 28 Feb otherwise."""
    day = anchor_day or moment.day
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(day, last))


def next_period_end(start: datetime, period: Period, anchor_day: int | None = None) -> datetime:
    """The end (exclusive) of the period that begins at ``start``."""
    if period is Period.DAY:
        return start + timedelta(days=1)
    if period is Period.DAYS_30:
        return start + timedelta(days=30)
    return add_months(start, 1, anchor_day)


def prorated_refund(fee: Tiyn, start: datetime, end: datetime, now: datetime) -> Tiyn:
    """The unused part of a period's fee at ``now``, rounded down to the tiyn (never more than
    was paid, never negative)."""
    if fee <= 0 or now >= end or end <= start:
        return 0
    total = (end - start).total_seconds()
    left = (end - max(now, start)).total_seconds()
    return min(fee, int(fee * int(left) // int(total)))


@dataclass(frozen=True, slots=True)
class Bundles:
    """What a period grants; minutes and megabytes as the catalogue says them."""

    onnet_minutes: int = 0
    offnet_minutes: int = 0
    sms: int = 0
    data_mb: int = 0

    def is_empty(self) -> bool:
        return not (self.onnet_minutes or self.offnet_minutes or self.sms or self.data_mb)


@dataclass(frozen=True, slots=True)
class Rates:
    """Out-of-bundle prices in tiyn: per minute, per SMS, per megabyte."""

    onnet_minute: Tiyn = 0
    offnet_minute: Tiyn = 0
    international_minute: Tiyn = 0
    sms: Tiyn = 0
    data_mb: Tiyn = 0


@dataclass(frozen=True, slots=True)
class Product:
    """A tariff (one per subscriber) or an option (any number), with its period and fee."""

    code: str
    kind: ProductKind
    names: dict[str, str]
    period: Period
    fee: Tiyn
    bundles: Bundles = Bundles()
    rates: Rates = Rates()
    rounding: Rounding = Rounding.PER_SECOND
    change_fee: Tiyn = 0  # tariffs: a change to this tariff costs this (the first one is free)
    suspended_fee: Tiyn = 0  # charged per period instead of the fee while the number is suspended
    payment_types: frozenset[str] = PAYMENT_TYPES
    brands: frozenset[str] = frozenset()  # empty: every brand
    active: bool = True  # inactive: kept for subscribers on it, not offered any more

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("ru") or self.code

    def available_for(self, payment_type: str, brand: str) -> bool:
        return (
            self.active
            and payment_type in self.payment_types
            and (not self.brands or brand in self.brands)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind.value,
            "names": dict(self.names),
            "period": self.period.value,
            "fee": self.fee,
            "bundles": {
                "onnet_minutes": self.bundles.onnet_minutes,
                "offnet_minutes": self.bundles.offnet_minutes,
                "sms": self.bundles.sms,
                "data_mb": self.bundles.data_mb,
            },
            "rates": {
                "onnet_minute": self.rates.onnet_minute,
                "offnet_minute": self.rates.offnet_minute,
                "international_minute": self.rates.international_minute,
                "sms": self.rates.sms,
                "data_mb": self.rates.data_mb,
            },
            "rounding": self.rounding.value,
            "change_fee": self.change_fee,
            "suspended_fee": self.suspended_fee,
            "payment_types": sorted(self.payment_types),
            "brands": sorted(self.brands),
        }

    @staticmethod
    def from_json(data: dict[str, Any], *, active: bool = True) -> Product:
        return Product(
            code=data["code"],
            kind=ProductKind(data["kind"]),
            names=dict(data["names"]),
            period=Period(data["period"]),
            fee=int(data["fee"]),
            bundles=Bundles(**data["bundles"]),
            rates=Rates(**data["rates"]),
            rounding=Rounding(data["rounding"]),
            change_fee=int(data["change_fee"]),
            suspended_fee=int(data["suspended_fee"]),
            payment_types=frozenset(data["payment_types"]),
            brands=frozenset(data["brands"]),
            active=active,
        )


@dataclass(frozen=True, slots=True)
class Charges:
    """Operator-wide prices that are not a product: collect call, full statement."""

    collect_call_per_minute: Tiyn = DEFAULT_COLLECT_CALL_PER_MINUTE
    full_statement_fee: Tiyn = DEFAULT_FULL_STATEMENT_FEE


@dataclass(frozen=True)
class Catalogue:
    version: str
    products: dict[str, Product]
    charges: Charges = Charges()
    default_tariff: str | None = None
    checksum: str = ""

    def product(self, code: str) -> Product | None:
        return self.products.get(code)

    def tariffs(self) -> list[Product]:
        return [p for p in self.products.values() if p.kind is ProductKind.TARIFF]

    def options(self) -> list[Product]:
        return [p for p in self.products.values() if p.kind is ProductKind.OPTION]

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "default_tariff": self.default_tariff,
            "charges": {
                "collect_call_per_minute": self.charges.collect_call_per_minute,
                "full_statement_fee": self.charges.full_statement_fee,
            },
            "products": [p.as_json() for p in self.products.values()],
        }


EMPTY_CATALOGUE = Catalogue(version="", products={})


# -- parsing -------------------------------------------------------------------------------
_TOP_KEYS = {"version", "default_tariff", "charges", "tariffs", "options"}
_PRODUCT_KEYS = {
    "code",
    "names",
    "period",
    "fee",
    "bundles",
    "rates",
    "rounding",
    "change_fee",
    "suspended_fee",
    "payment",
    "brands",
    "description",
}
_OPTION_ONLY_FORBIDDEN = {"rates", "rounding", "change_fee"}


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, reason: str) -> None:
        self.items.append((line, reason))


def _money(value: Any, line: int, what: str, problems: _Problems) -> Tiyn:
    if isinstance(value, bool) or value is None:
        problems.add(line, f"{what}: expected an amount in tenge")
        return 0
    if isinstance(value, int):
        if value < 0:
            problems.add(line, f"{what}: cannot be negative")
            return 0
        return value * 100
    if isinstance(value, float):
        problems.add(line, f'{what}: write fractional tenge as a string, e.g. "19.90"')
        return 0
    try:
        return parse_tenge(str(value), field=what)
    except ValidationError:
        problems.add(line, f"{what}: {value!r} is not tenge with at most two decimals")
        return 0


def _count(value: Any, line: int, what: str, problems: _Problems) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.add(line, f"{what}: expected a whole number ≥ 0")
        return 0
    return value


def _code(value: Any, line: int, problems: _Problems) -> str:
    text = value if isinstance(value, str) else ""
    ok = 0 < len(text) <= MAX_CODE and text.isascii() and text.replace("_", "").isalnum()
    if not ok:
        problems.add(line, f"code: {value!r} must be 1-{MAX_CODE} letters, digits or _")
        return ""
    return text.upper()


def _parse_product(raw: Any, line: int, kind: ProductKind, problems: _Problems) -> Product | None:
    if not isinstance(raw, LineDict):
        problems.add(line, f"each {kind.value} must be a mapping")
        return None
    before = len(problems.items)
    for key in raw:
        if key not in _PRODUCT_KEYS:
            problems.add(raw.line_of(key), f"unknown field {key!r}")
        elif kind is ProductKind.OPTION and key in _OPTION_ONLY_FORBIDDEN:
            problems.add(raw.line_of(key), f"{key!r} is for tariffs, not options")
    code = _code(raw.get("code"), raw.line_of("code"), problems)
    names_raw = raw.get("names")
    names: dict[str, str] = {}
    if not isinstance(names_raw, LineDict):
        problems.add(raw.line_of("names"), "names: expected a mapping with ru, kk and en")
    else:
        for lang in LANGUAGES:
            text = names_raw.get(lang)
            if not isinstance(text, str) or not text.strip() or len(text) > 100:
                problems.add(names_raw.line_of(lang), f"names.{lang}: a name is required")
            else:
                names[lang] = text.strip()
        for key in names_raw:
            if key not in LANGUAGES:
                problems.add(names_raw.line_of(key), f"names: unknown language {key!r}")
    try:
        period = Period(str(raw.get("period")))
    except ValueError:
        allowed = ", ".join(p.value for p in Period)
        problems.add(raw.line_of("period"), f"period: must be one of {allowed}")
        period = Period.DAY
    if "fee" not in raw:
        problems.add(raw.line, "fee: required (0 for free)")
    fee = _money(raw.get("fee", 0), raw.line_of("fee"), "fee", problems)
    bundles = Bundles()
    bundles_raw = raw.get("bundles")
    if bundles_raw is not None:
        if not isinstance(bundles_raw, LineDict):
            problems.add(raw.line_of("bundles"), "bundles: expected a mapping")
        else:
            values: dict[str, int] = {}
            for key, value in bundles_raw.items():
                if key not in Bundles.__dataclass_fields__:
                    problems.add(bundles_raw.line_of(key), f"bundles: unknown bundle {key!r}")
                    continue
                values[key] = _count(value, bundles_raw.line_of(key), f"bundles.{key}", problems)
            bundles = Bundles(**values)
    rates = Rates()
    rates_raw = raw.get("rates")
    if kind is ProductKind.TARIFF:
        if not isinstance(rates_raw, LineDict):
            problems.add(raw.line_of("rates"), "rates: a tariff needs out-of-bundle rates")
        else:
            values = {}
            for key, value in rates_raw.items():
                if key not in Rates.__dataclass_fields__:
                    problems.add(rates_raw.line_of(key), f"rates: unknown rate {key!r}")
                    continue
                values[key] = _money(value, rates_raw.line_of(key), f"rates.{key}", problems)
            for key in ("onnet_minute", "offnet_minute", "sms", "data_mb"):
                if key not in rates_raw:
                    problems.add(rates_raw.line, f"rates.{key}: required")
            values.setdefault("international_minute", values.get("offnet_minute", 0))
            rates = Rates(**values)
    try:
        rounding = Rounding(raw.get("rounding", Rounding.PER_SECOND.value))
    except ValueError:
        problems.add(raw.line_of("rounding"), "rounding: must be per_second or per_minute")
        rounding = Rounding.PER_SECOND
    change_fee = _money(raw.get("change_fee", 0), raw.line_of("change_fee"), "change_fee", problems)
    suspended_fee = _money(
        raw.get("suspended_fee", 0), raw.line_of("suspended_fee"), "suspended_fee", problems
    )
    payment = raw.get("payment", ["prepaid", "postpaid"])
    if not isinstance(payment, list) or not payment or not set(payment) <= PAYMENT_TYPES:
        problems.add(raw.line_of("payment"), "payment: a list of prepaid and/or postpaid")
        payment = ["prepaid"]
    brands = raw.get("brands", [])
    if not isinstance(brands, list) or not all(isinstance(b, str) and b for b in brands):
        problems.add(raw.line_of("brands"), "brands: a list of brand codes")
        brands = []
    if len(problems.items) > before:
        return None
    return Product(
        code=code,
        kind=kind,
        names=names,
        period=period,
        fee=fee,
        bundles=bundles,
        rates=rates,
        rounding=rounding,
        change_fee=change_fee,
        suspended_fee=suspended_fee,
        payment_types=frozenset(str(p) for p in payment),
        brands=frozenset(b.lower() for b in brands),
    )


def parse_catalogue(doc: Any, *, known_brands: frozenset[str] | None = None) -> Catalogue:
    """Validate a whole catalogue document; raise ``InvalidCatalogue`` with every problem."""
    problems = _Problems()
    if not isinstance(doc, LineDict):
        raise InvalidCatalogue([(1, "the catalogue must be a mapping with version and tariffs")])
    for key in doc:
        if key not in _TOP_KEYS:
            problems.add(doc.line_of(key), f"unknown top-level field {key!r}")
    version = doc.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version.strip() or len(version) > 40:
        problems.add(doc.line_of("version"), "version: required, e.g. 2026-11")
        version = ""
    charges = Charges()
    charges_raw = doc.get("charges")
    if charges_raw is not None:
        if not isinstance(charges_raw, LineDict):
            problems.add(doc.line_of("charges"), "charges: expected a mapping")
        else:
            values: dict[str, int] = {}
            for key, value in charges_raw.items():
                if key not in Charges.__dataclass_fields__:
                    problems.add(charges_raw.line_of(key), f"charges: unknown charge {key!r}")
                    continue
                values[key] = _money(value, charges_raw.line_of(key), f"charges.{key}", problems)
            charges = Charges(**values)
    products: dict[str, Product] = {}
    for section, kind in (("tariffs", ProductKind.TARIFF), ("options", ProductKind.OPTION)):
        items = doc.get(section, LineList(doc.line))
        if not isinstance(items, LineList):
            problems.add(doc.line_of(section), f"{section}: expected a list")
            continue
        for index, raw in enumerate(items):
            line = items.line_of(index)
            product = _parse_product(raw, line, kind, problems)
            if product is None:
                continue
            if product.code in products:
                problems.add(line, f"code {product.code} is used twice")
                continue
            unknown = product.brands - known_brands if known_brands is not None else set()
            if unknown:
                problems.add(line, f"brands: unknown brand(s) {', '.join(sorted(unknown))}")
                continue
            products[product.code] = product
    if not any(p.kind is ProductKind.TARIFF for p in products.values()) and not problems.items:
        problems.add(doc.line, "tariffs: at least one tariff is required")
    default = doc.get("default_tariff")
    if default is not None:
        default = str(default).upper()
        found = products.get(default)
        if (found is None or found.kind is not ProductKind.TARIFF) and not problems.items:
            problems.add(doc.line_of("default_tariff"), f"default_tariff: no tariff {default}")
    if problems.items:
        raise InvalidCatalogue(sorted(problems.items))
    catalogue = Catalogue(
        version=str(version).strip(), products=products, charges=charges, default_tariff=default
    )
    return Catalogue(
        version=catalogue.version,
        products=products,
        charges=charges,
        default_tariff=default,
        checksum=checksum_of(catalogue),
    )


def checksum_of(catalogue: Catalogue) -> str:
    text = json.dumps(catalogue.as_json(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
