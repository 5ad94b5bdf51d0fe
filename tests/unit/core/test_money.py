"""Text and numbers becoming money: only exact, non-negative tenge with at most two decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abonent.core.errors import InvalidAmount
from abonent.core.money import (
    format_tenge,
    parse_tenge,
    parse_tenge_strict_2dp,
    require_positive_tiyn,
    require_tiyn,
    tenge,
)

# The largest amount parse_tenge accepts: 15 digits of whole tenge and 99 tiyn.
MAX_PARSEABLE = (10**15 - 1) * 100 + 99


@pytest.mark.parametrize(
    ("text", "tiyn"),
    [
        ("0", 0),
        ("200", 20_000),
        ("200.5", 20_050),
        ("200.50", 20_050),
        ("200.05", 20_005),
        ("0.01", 1),
        ("999999999999999.99", MAX_PARSEABLE),
    ],
)
def test_tenge_text_becomes_exact_tiyn(text: str, tiyn: int) -> None:
    assert parse_tenge(text) == tiyn


@pytest.mark.parametrize(
    "text",
    [
        "-1",  # negative
        "-0.01",
        "1.005",  # a fraction of a tiyn
        "0.001",
        "1.5e2",  # exponent
        "1e3",
        "nan",
        "inf",
        "",  # blank
        " ",
        " 1",
        "1 ",
        "1\n",
        "1,00",  # comma
        "1 000",
        "1_000",
        "01",  # leading zero
        "1.",
        ".5",
        "+1",
        "１２",  # full-width digits
        "٣",  # Arabic-Indic digit
        "1000000000000000",  # 16 digits of tenge: beyond any real amount
        "abc",
        "0x10",
    ],
)
def test_malformed_tenge_text_is_refused_as_invalid_amount(text: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_tenge(text)
    assert caught.value.code == "invalid_amount"
    assert caught.value.details["field"] == "amount"


@pytest.mark.parametrize("value", [None, 200, 200.5, Decimal("200"), b"200"])
def test_non_text_is_refused_by_parse_tenge(value: Any) -> None:
    with pytest.raises(InvalidAmount):
        parse_tenge(value)


def test_the_error_names_the_field_it_is_about() -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_tenge("-5", field="balance")
    assert caught.value.details == {"field": "balance"}
    assert "balance" in caught.value.message


@pytest.mark.parametrize("text", ["200", "200.5", "200.000", "-200.00", "200,00", " 200.00"])
def test_agent_sums_need_exactly_two_decimals(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_tenge_strict_2dp(text)


def test_agent_sum_with_two_decimals_is_parsed() -> None:
    assert parse_tenge_strict_2dp("200.00") == 20_000
    assert parse_tenge_strict_2dp("0.07") == 7


@pytest.mark.parametrize("value", [0, 1, -1, 10**18, -(10**18)])
def test_integers_are_tiyn(value: int) -> None:
    assert require_tiyn(value) == value


@pytest.mark.parametrize(
    "value",
    [True, False, 1.0, 0.5, float("nan"), Decimal("1"), "100", None, [100]],
)
def test_floats_bools_and_strings_are_not_tiyn(value: Any) -> None:
    with pytest.raises(InvalidAmount) as caught:
        require_tiyn(value)
    assert caught.value.code == "invalid_amount"


@pytest.mark.parametrize("value", [0, -1, -100, 1.5, True])
def test_positive_amounts_refuse_zero_negative_and_non_integers(value: Any) -> None:
    with pytest.raises(InvalidAmount):
        require_positive_tiyn(value)


def test_positive_amount_passes_through() -> None:
    assert require_positive_tiyn(1) == 1


@pytest.mark.parametrize(
    ("tiyn", "text"),
    [(0, "0.00"), (1, "0.01"), (20_050, "200.50"), (-20_050, "-200.50"), (-5, "-0.05")],
)
def test_format_tenge_shows_two_decimals_and_keeps_the_sign(tiyn: int, text: str) -> None:
    assert format_tenge(tiyn) == text


@pytest.mark.parametrize("value", [1.5, True, "100"])
def test_format_tenge_refuses_non_integer_amounts(value: Any) -> None:
    with pytest.raises(InvalidAmount):
        format_tenge(value)


def test_whole_tenge_helper_multiplies_by_a_hundred() -> None:
    assert tenge(200) == 20_000
    with pytest.raises(InvalidAmount):
        tenge(2.5)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=MAX_PARSEABLE))
def test_formatting_then_parsing_gives_back_the_same_tiyn(amount: int) -> None:
    assert parse_tenge(format_tenge(amount)) == amount


@given(st.integers(min_value=1, max_value=MAX_PARSEABLE))
def test_negative_amounts_format_as_the_positive_one_with_a_minus(amount: int) -> None:
    assert format_tenge(-amount) == "-" + format_tenge(amount)


@given(
    st.integers(min_value=0, max_value=10**15 - 1),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,2}", fullmatch=True)),
)
def test_parsing_then_formatting_is_the_canonical_form(whole: int, fraction: str) -> None:
    text = f"{whole}{fraction}"
    cents = fraction[1:].ljust(2, "0") if fraction else "00"
    assert format_tenge(parse_tenge(text)) == f"{whole}.{cents}"
    assert parse_tenge_strict_2dp(format_tenge(parse_tenge(text))) == parse_tenge(text)


@given(st.text(max_size=20))
def test_any_text_is_either_refused_or_exactly_representable(text: str) -> None:
    try:
        amount = parse_tenge(text)
    except InvalidAmount:
        return
    assert isinstance(amount, int) and amount >= 0
    assert parse_tenge(format_tenge(amount)) == amount
