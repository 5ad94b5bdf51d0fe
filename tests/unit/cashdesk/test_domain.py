from __future__ import annotations

import pytest

from abonent.cashdesk.domain import (
    InvalidDenomination,
    keyed_hash,
    keys_match,
    parse_denomination,
    parse_seq,
)
from abonent.core.errors import ValidationError


@pytest.mark.parametrize("tenge", [200, 500, 1000, 2000, 5000, 10000, 20000])
def test_real_banknotes_are_accepted(tenge: int) -> None:
    assert parse_denomination(tenge) == tenge * 100


@pytest.mark.parametrize("value", [100, 199, 300, 50000, 0, -200, "1000", 1000.0, True, None])
def test_anything_else_is_not_a_banknote(value: object) -> None:
    with pytest.raises(InvalidDenomination):
        parse_denomination(value)


@pytest.mark.parametrize("value", [0, -1, 100_001, "1", 1.0, False])
def test_bad_event_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        parse_seq(value)


def test_machine_keys_are_compared_by_keyed_hash() -> None:
    stored = keyed_hash("secret", "the-key")
    assert keys_match("secret", "the-key", stored)
    assert not keys_match("secret", "another", stored)
    assert not keys_match("other-secret", "the-key", stored)
