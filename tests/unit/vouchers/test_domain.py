from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from abonent.core.money import tenge
from abonent.vouchers.domain import (
    EntryGuard,
    EntryPolicy,
    InvalidBatchSize,
    InvalidNominal,
    InvalidVoucherChannel,
    InvalidVoucherCode,
    code_hash,
    generate_code,
    key_check,
    luhn_digit,
    parse_batch_number,
    parse_code,
    require_batch_size,
    require_channel,
    require_nominal,
)

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_generated_codes_are_13_digits_with_a_valid_check_digit() -> None:
    codes = {generate_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == 13 and code.isdigit()
        assert parse_code(code) == code


def test_luhn_digit_matches_the_known_example() -> None:
    assert luhn_digit("7992739871") == "3"


@pytest.mark.parametrize("typed", ["1234 5678 9012 8", "1234-5678-9012-8", " 1234567890128 "])
def test_codes_may_be_typed_with_spaces_or_dashes(typed: str) -> None:
    assert parse_code(typed) == "1234567890128"


@pytest.mark.parametrize(
    "typed",
    ["", "123", "12345678901234", "1234567890123", "12345678901a8", "١٢٣٤٥٦٧٨٩٠١٢٨", "9" * 100],
)
def test_malformed_or_mistyped_codes_are_refused(typed: str) -> None:
    with pytest.raises(InvalidVoucherCode):
        parse_code(typed)


def test_hash_is_keyed() -> None:
    assert code_hash(b"a", "1234567890128") != code_hash(b"b", "1234567890128")
    assert key_check(b"a") != key_check(b"b") and len(key_check(b"a")) == 16


def test_nominals_counts_and_channels_are_checked() -> None:
    for n in (500, 1000, 2000, 5000):
        assert require_nominal(tenge(n)) == tenge(n)
    for bad in (tenge(700), 1000, -tenge(500), True):
        with pytest.raises(InvalidNominal):
            require_nominal(bad)
    for bad_count in (0, -1, 1_000_001):
        with pytest.raises(InvalidBatchSize):
            require_batch_size(bad_count)
    assert require_channel("ussd") == "ussd"
    with pytest.raises(InvalidVoucherChannel):
        require_channel("fax")
    assert parse_batch_number("B000012") == parse_batch_number("b12") == parse_batch_number("12")


def test_fifth_wrong_code_within_a_day_locks_for_24_hours() -> None:
    policy = EntryPolicy()
    guard = EntryGuard(0, None, None)
    for minute in range(4):
        guard = guard.after_failure(T0 + timedelta(minutes=minute), policy)
        assert not guard.locked(T0 + timedelta(minutes=minute))
    guard = guard.after_failure(T0 + timedelta(hours=1), policy)
    assert guard.locked(T0 + timedelta(hours=1))
    assert guard.locked(T0 + timedelta(hours=24, minutes=59))
    assert not guard.locked(T0 + timedelta(hours=25))


def test_failures_of_an_old_window_are_forgotten() -> None:
    policy = EntryPolicy()
    guard = EntryGuard(0, None, None)
    for minute in range(4):
        guard = guard.after_failure(T0 + timedelta(minutes=minute), policy)
    later = T0 + timedelta(hours=24)
    guard = guard.after_failure(later, policy)
    assert guard.failures == 1 and not guard.locked(later)


def test_counting_restarts_after_a_lock_expires() -> None:
    policy = EntryPolicy(max_failures=2)
    guard = EntryGuard(0, None, None).after_failure(T0, policy).after_failure(T0, policy)
    assert guard.locked(T0)
    after = T0 + timedelta(hours=24)
    guard = guard.after_failure(after, policy)
    assert guard.failures == 1 and not guard.locked(after)
