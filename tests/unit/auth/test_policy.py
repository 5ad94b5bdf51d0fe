from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from abonent.auth.domain import (
    AuthPolicy,
    CodePurpose,
    WeakPassword,
    check_password,
    code_hash,
    failure_delay,
    new_code,
    retry_after,
)

POLICY = AuthPolicy()


def test_codes_are_six_digits() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 150  # random, not a counter


def test_code_hash_depends_on_secret_number_and_purpose() -> None:
    base = code_hash("s1", "+77071234567", CodePurpose.LOGIN, "123456")
    assert base != code_hash("s2", "+77071234567", CodePurpose.LOGIN, "123456")
    assert base != code_hash("s1", "+77071234568", CodePurpose.LOGIN, "123456")
    assert base != code_hash("s1", "+77071234567", CodePurpose.RESET, "123456")
    assert "123456" not in base


@pytest.mark.parametrize("password", ["short", "1234567", "password", "qwerty123", "Password1"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_password(password, POLICY)


def test_password_containing_the_phone_number_is_refused() -> None:
    with pytest.raises(WeakPassword):
        check_password("x7071234567x", POLICY, msisdn="+77071234567")


def test_long_passphrases_are_allowed() -> None:
    check_password("correct horse battery staple " * 3, POLICY)
    check_password("Тау-кен 2026 жаңа!", POLICY)


def test_too_long_password_is_refused() -> None:
    with pytest.raises(WeakPassword):
        check_password("x" * 257, POLICY)


def test_delay_grows_after_free_failures_and_is_capped() -> None:
    delays = [failure_delay(n, POLICY) for n in range(0, 30)]
    assert delays[:3] == [timedelta(0)] * 3
    assert delays[3] == timedelta(seconds=2) and delays[4] == timedelta(seconds=4)
    assert delays == sorted(delays)
    assert max(delays) == POLICY.max_delay


def test_retry_after_counts_down() -> None:
    last = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after(last, 5, last, POLICY) == 8
    assert retry_after(last, 5, last + timedelta(seconds=8), POLICY) == 0
    assert retry_after(None, 99, last, POLICY) == 0
