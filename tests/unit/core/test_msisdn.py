"""Typed phone numbers: the Kazakhstan mobile forms are normalised to E.164, the rest refused."""

from __future__ import annotations

from typing import Any

import pytest

from abonent.core.errors import InvalidMsisdn
from abonent.core.msisdn import display, masked, national10, parse_msisdn, parse_national10


@pytest.mark.parametrize(
    "text",
    [
        "7071234567",
        "87071234567",
        "77071234567",
        "+77071234567",
        "+7 707 123 45 67",
        "8 (707) 123-45-67",
        " 7071234567 ",
    ],
)
def test_every_accepted_form_is_stored_as_e164(text: str) -> None:
    assert parse_msisdn(text) == "+77071234567"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("abcdefghij", id="letters"),
        pytest.param("707123456a", id="a-letter-inside"),
        pytest.param("707-ABC-4567", id="letters-with-dashes"),
        pytest.param("707123456", id="9-digits"),
        pytest.param("70712345678", id="11-digits-not-starting-7-or-8-prefix"),
        pytest.param("970712345678", id="12-digits"),
        pytest.param("+7 707 123 45 67 8", id="one-digit-too-many"),
        pytest.param("+79161234567", id="russian-mobile-shares-country-code-7"),
        pytest.param("89161234567", id="russian-mobile-with-8"),
        pytest.param("+998901234567", id="uzbek"),
        pytest.param("+4915112345678", id="german"),
        pytest.param("7271234567", id="almaty-landline"),
        pytest.param("0071234567", id="not-a-number-range"),
        pytest.param("7" * 33, id="too-long"),
        pytest.param("٧٠٧١٢٣٤٥٦٧", id="non-ascii-digits"),
        pytest.param("+7+7071234567", id="two-plus-signs"),
    ],
)
def test_invalid_numbers_are_refused_with_invalid_msisdn(text: str) -> None:
    with pytest.raises(InvalidMsisdn) as caught:
        parse_msisdn(text)
    assert caught.value.code == "invalid_msisdn"
    assert caught.value.http_status == 422


@pytest.mark.parametrize("value", [None, 7071234567, b"7071234567"])
def test_non_text_is_refused(value: Any) -> None:
    with pytest.raises(InvalidMsisdn):
        parse_msisdn(value)


def test_agents_must_send_exactly_ten_digits() -> None:
    assert parse_national10("7071234567") == "+77071234567"
    for text in ["87071234567", "+77071234567", "707 123 4567", "707123456"]:
        with pytest.raises(InvalidMsisdn):
            parse_national10(text)


def test_display_forms() -> None:
    assert national10("+77071234567") == "7071234567"
    assert masked("+77071234567") == "***4567"
    assert display("+77071234567") == "+7 707 123 45 67"
    assert parse_msisdn(display("+77071234567")) == "+77071234567"
