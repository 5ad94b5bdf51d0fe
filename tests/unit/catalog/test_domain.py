from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from abonent.catalog.domain import (
    InvalidCatalogue,
    Period,
    ProductKind,
    Rounding,
    add_months,
    next_period_end,
    parse_catalogue,
    prorated_refund,
)
from abonent.catalog.loader import read_document

DEMO = Path(__file__).resolve().parents[3] / "src" / "abonent" / "catalog" / "demo.yaml"

MINIMAL = """\
version: "1"
tariffs:
  - code: basic
    names: {ru: Базовый, kk: Базалық, en: Basic}
    period: calendar_month
    fee: "1990.50"
    bundles: {onnet_minutes: 100, data_mb: 1024}
    rates: {onnet_minute: 0, offnet_minute: 15, sms: 10, data_mb: "7.25"}
    rounding: per_minute
"""


def at(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def problems_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(InvalidCatalogue) as info:
        parse_catalogue(read_document(text))
    return info.value.problems


def test_month_end_clamps_and_keeps_its_anchor_through_a_leap_february() -> None:
    assert add_months(at(2028, 1, 31), 1) == at(2028, 2, 29)
    assert add_months(at(2027, 1, 31), 1) == at(2027, 2, 28)
    # Anchored to the 31st: February does not drag March back to the 29th.
    assert add_months(at(2028, 2, 29), 1, anchor_day=31) == at(2028, 3, 31)
    assert add_months(at(2026, 12, 15), 1) == at(2027, 1, 15)


def test_period_ends_for_a_day_thirty_days_and_a_calendar_month() -> None:
    start = at(2028, 2, 10, 9)
    assert next_period_end(start, Period.DAY) == at(2028, 2, 11, 9)
    assert next_period_end(start, Period.DAYS_30) == at(2028, 3, 11, 9)
    assert next_period_end(start, Period.CALENDAR_MONTH) == at(2028, 3, 10, 9)


def test_prorated_refund_is_the_unused_share_rounded_down() -> None:
    assert prorated_refund(3000, at(2026, 4, 1), at(2026, 5, 1), at(2026, 4, 16)) == 1500
    assert prorated_refund(1000, at(2026, 1, 1), at(2026, 1, 4), at(2026, 1, 2)) == 666
    assert prorated_refund(1000, at(2026, 1, 1), at(2026, 1, 4), at(2026, 1, 5)) == 0


def test_demo_catalogue_is_valid() -> None:
    catalogue = parse_catalogue(read_document(DEMO.read_text(encoding="utf-8")))
    assert catalogue.default_tariff == "PAYG"
    assert catalogue.charges.collect_call_per_minute == 1300
    assert catalogue.charges.full_statement_fee == 3000
    assert {p.kind for p in catalogue.products.values()} == {ProductKind.TARIFF, ProductKind.OPTION}
    assert catalogue.product("GUDOK") is not None


def test_money_is_parsed_exactly_and_codes_upper_cased() -> None:
    catalogue = parse_catalogue(read_document(MINIMAL))
    basic = catalogue.product("BASIC")
    assert basic is not None
    assert basic.fee == 199050
    assert basic.rates.data_mb == 725
    assert basic.rates.international_minute == basic.rates.offnet_minute  # defaults to off-net
    assert basic.rounding is Rounding.PER_MINUTE
    assert basic.names["kk"] == "Базалық"
    assert catalogue.checksum and len(catalogue.checksum) == 64


def test_every_problem_is_reported_with_its_line() -> None:
    text = MINIMAL.replace('fee: "1990.50"', "fee: 19.9").replace("calendar_month", "weekly")
    text += "    colour: red\n"
    found = problems_of(text)
    assert (6, 'fee: write fractional tenge as a string, e.g. "19.90"') in found
    assert any(line == 5 and "period" in reason for line, reason in found)
    assert any(line == 10 and "unknown field 'colour'" in reason for line, reason in found)


def test_missing_names_and_rates_are_refused() -> None:
    text = MINIMAL.replace(", en: Basic", "").replace("sms: 10, ", "")
    assert problems_of(text) == [(4, "names.en: a name is required"), (8, "rates.sms: required")]


def test_a_code_used_twice_is_refused() -> None:
    text = MINIMAL + MINIMAL.split("tariffs:\n")[1]
    assert problems_of(text) == [(10, "code BASIC is used twice")]


def test_options_cannot_carry_tariff_fields() -> None:
    text = (
        MINIMAL
        + """\
options:
  - code: pack
    names: {ru: Пакет, kk: Пакет, en: Pack}
    period: day
    fee: 10
    rates: {sms: 1}
"""
    )
    assert problems_of(text) == [(15, "'rates' is for tariffs, not options")]


def test_broken_yaml_names_its_line() -> None:
    found = problems_of("version: 1\ntariffs:\n  - code: [A\n")
    assert found[0][0] >= 3 and "not valid YAML" in found[0][1]


def test_unknown_brand_is_refused_when_brands_are_known() -> None:
    text = MINIMAL + "    brands: [tele2, nosuch]\n"
    with pytest.raises(InvalidCatalogue) as info:
        parse_catalogue(read_document(text), known_brands=frozenset({"tele2"}))
    assert "nosuch" in str(info.value)


def test_an_empty_or_scalar_file_is_refused() -> None:
    assert problems_of("") == [(1, "the file is empty")]
    assert problems_of("just text")[0][0] == 1
