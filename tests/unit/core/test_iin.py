"""IIN validation: 12 digits, a real birth date, a century digit 1-6 and the check digit."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from abonent.core.errors import InvalidIin
from abonent.core.iin import iin_birth_date, iin_check_digit, make_iin, parse_iin

# Worked by hand from the rule in channels-and-rules.md:
# 9·1 + 0·2 + 0·3 + 3·4 + 1·5 + 4·6 + 4·7 + 0·8 + 0·9 + 0·10 + 1·11 = 89; 89 mod 11 = 1.
HAND_CHECKED = "900314400011"
# First pass 98 mod 11 = 10, so the second weights decide: 122 mod 11 = 1.
SECOND_PASS = "900314400201"
# Both passes give 10 for these eleven digits: no twelfth digit makes a valid IIN.
NO_VALID_CHECK = "90031440100"

FIRST_WEIGHTS = range(1, 12)
SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
CENTURY_DIGITS = {1800: (1, 2), 1900: (3, 4), 2000: (5, 6)}


def spec_check_digit(first11: str) -> int | None:
    """The rule exactly as channels-and-rules.md states it, as an independent oracle."""
    digits = [int(c) for c in first11]
    for weights in (FIRST_WEIGHTS, SECOND_WEIGHTS):
        s = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if s != 10:
            return s
    return None


def test_a_correct_iin_is_accepted() -> None:
    assert parse_iin(HAND_CHECKED) == HAND_CHECKED
    assert iin_birth_date(HAND_CHECKED) == date(1990, 3, 14)


def test_make_iin_builds_the_hand_checked_number() -> None:
    assert make_iin(date(1990, 3, 14), 4, 1) == HAND_CHECKED


def test_second_weights_decide_when_the_first_sum_is_ten() -> None:
    assert iin_check_digit(SECOND_PASS[:11]) == 1
    assert parse_iin(SECOND_PASS) == SECOND_PASS


def test_eleven_digits_with_no_possible_check_digit_are_never_valid() -> None:
    assert iin_check_digit(NO_VALID_CHECK) is None
    assert make_iin(date(1990, 3, 14), 4, 100) is None
    for last in "0123456789":
        with pytest.raises(InvalidIin):
            parse_iin(NO_VALID_CHECK + last)


def test_surrounding_spaces_are_ignored() -> None:
    assert parse_iin(f"  {HAND_CHECKED} ") == HAND_CHECKED


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("900314400012", id="wrong-check-digit"),
        pytest.param("900314400010", id="another-wrong-check-digit"),
        pytest.param("901314400011", id="month-13"),
        pytest.param("900230400011", id="february-30"),
        pytest.param("900300400011", id="day-zero"),
        pytest.param("900314000011", id="century-digit-0"),
        pytest.param("900314700011", id="century-digit-7"),
        pytest.param("900314900011", id="century-digit-9"),
        pytest.param("90031440001", id="11-digits"),
        pytest.param("9003144000111", id="13-digits"),
        pytest.param("", id="empty"),
        pytest.param("90031440001a", id="a-letter"),
        pytest.param("9003 1440 0011", id="spaces-inside"),
        pytest.param("９００３１４４０００１１", id="full-width-digits"),
    ],
)
def test_invalid_iins_are_refused_with_invalid_iin(text: str) -> None:
    with pytest.raises(InvalidIin) as caught:
        parse_iin(text)
    assert caught.value.code == "invalid_iin"


@pytest.mark.parametrize("value", [None, 900314400011])
def test_non_text_is_refused(value: Any) -> None:
    with pytest.raises(InvalidIin):
        parse_iin(value)


def test_a_date_that_exists_only_in_a_leap_year_depends_on_the_century_digit() -> None:
    # 29 February 2000 existed, 29 February 1900 did not; YYMMDD is the same.
    born_2000 = make_iin(date(2000, 2, 29), 5, 7)
    assert born_2000 is not None and parse_iin(born_2000) == born_2000
    as_1900 = born_2000[:6] + "3" + born_2000[7:11]
    check = iin_check_digit(as_1900)
    assert check is not None
    with pytest.raises(InvalidIin):
        parse_iin(as_1900 + str(check))


@st.composite
def valid_iins(draw: st.DrawFn) -> tuple[str, date]:
    century = draw(st.sampled_from(sorted(CENTURY_DIGITS)))
    birth = draw(st.dates(min_value=date(century, 1, 1), max_value=date(century + 99, 12, 31)))
    digit = draw(st.sampled_from(CENTURY_DIGITS[century]))
    serial = draw(st.integers(min_value=0, max_value=9999))
    iin = make_iin(birth, digit, serial)
    assume(iin is not None)
    assert iin is not None
    return iin, birth


@given(st.from_regex(r"[0-9]{11}", fullmatch=True))
def test_check_digit_follows_the_published_rule(first11: str) -> None:
    assert iin_check_digit(first11) == spec_check_digit(first11)


@given(valid_iins())
def test_built_iins_are_accepted_and_carry_their_birth_date(case: tuple[str, date]) -> None:
    iin, birth = case
    assert parse_iin(iin) == iin
    assert iin_birth_date(iin) == birth


@given(valid_iins(), st.integers(min_value=1, max_value=9))
def test_any_other_check_digit_is_refused(case: tuple[str, date], shift: int) -> None:
    iin, _ = case
    wrong = iin[:11] + str((int(iin[11]) + shift) % 10)
    with pytest.raises(InvalidIin):
        parse_iin(wrong)
