from __future__ import annotations

import pytest

from abonent.core.errors import ValidationError
from abonent.receipts.domain import return_number, vat_included


@pytest.mark.parametrize(
    ("amount", "vat"),
    [
        (11_200, 1_200),  # 112.00 ₸ holds exactly 12.00 ₸
        (1_500_000, 160_714),  # 15 000 ₸ → 1 607.142857 → 1 607.14 ₸
        (100, 11),  # 1.00 ₸ → 10.71 tiyn → 11
        (1, 0),
        (0, 0),
        (-11_200, -1_200),  # a return receipt
    ],
)
def test_vat_is_amount_times_12_over_112_rounded_to_the_tiyn(amount: int, vat: int) -> None:
    assert vat_included(amount, 12) == vat


def test_vat_rate_is_configurable_and_checked() -> None:
    assert vat_included(12_000, 20) == 2_000
    assert vat_included(12_000, 0) == 0
    with pytest.raises(ValidationError):
        vat_included(100, 101)


def test_return_receipts_are_numbered_after_their_sale() -> None:
    assert return_number("R0000000042", 2) == "R0000000042-V2"
