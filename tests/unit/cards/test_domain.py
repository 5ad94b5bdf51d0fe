from __future__ import annotations

from datetime import UTC, datetime

import pytest

from abonent.cards.domain import (
    FINAL,
    TRANSITIONS,
    CardPaymentStatus,
    InvalidCardData,
    TopUpLimits,
    card_brand,
    check_move,
    luhn_valid,
    normalise_pan,
    parse_expiry,
    sources_of,
)
from abonent.core.errors import InvalidAmount, InvalidStatusTransition

S = CardPaymentStatus
NOW = datetime(2026, 1, 15, tzinfo=UTC)


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("")
    assert not luhn_valid("41111111111111a1")


def test_pan_normalisation_never_repeats_the_number() -> None:
    assert normalise_pan("4111 1111-1111 1111") == "4111111111111111"
    for bad in ["4111111111111112", "411111111111", "4" * 20, "", "４１１１"]:
        with pytest.raises(InvalidCardData) as caught:
            normalise_pan(bad)
        assert bad not in caught.value.message or bad == ""


def test_brands() -> None:
    assert card_brand("4111111111111111") == "VISA"
    assert card_brand("5555555555554444") == "MASTERCARD"
    assert card_brand("2221000000000009") == "MASTERCARD"
    assert card_brand("2200000000000004") == "MIR"


def test_expiry() -> None:
    assert parse_expiry("01/26", NOW) == (1, 2026)
    assert parse_expiry("12/2030", NOW) == (12, 2030)
    for bad in ["12/25", "00/30", "13/30", "1230", "ab/cd", "12/99999"]:
        with pytest.raises(InvalidCardData):
            parse_expiry(bad, NOW)


def test_state_machine_is_explicit() -> None:
    assert {S.DECLINED, S.FAILED, S.REFUNDED} == FINAL
    assert sources_of(S.CAPTURED) == {S.PROCESSING, S.PENDING_3DS, S.UNKNOWN}
    # Once captured, nothing but a refund; an unknown payment is never failed without asking.
    assert TRANSITIONS[S.CAPTURED] == {S.REFUNDING}
    assert S.FAILED not in TRANSITIONS[S.PENDING_3DS]
    for final in FINAL:
        for target in S:
            with pytest.raises(InvalidStatusTransition):
                check_move(final, target)
    check_move(S.UNKNOWN, S.CAPTURED)


def test_limits_default_100_to_50000_tenge() -> None:
    limits = TopUpLimits(10_000, 5_000_000)
    assert limits.check(10_000) == 10_000
    assert limits.check(5_000_000) == 5_000_000
    for bad in [9_999, 5_000_001, 0, -1, True, 100.0]:
        with pytest.raises(InvalidAmount):
            limits.check(bad)  # type: ignore[arg-type]
