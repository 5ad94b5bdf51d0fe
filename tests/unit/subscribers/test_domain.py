"""Subscriber rules without a database: the status lifecycle and personal data checks."""

from __future__ import annotations

import itertools

import pytest

from abonent.core.errors import InvalidStatusTransition, ValidationError
from abonent.subscribers.domain import (
    DEFAULT_PREFIXES,
    Language,
    SubscriberStatus,
    brand_for_prefix,
    check_transition,
    clean_email,
    clean_name,
    parse_language,
    parse_status,
)

ACTIVE = SubscriberStatus.ACTIVE
SUSPENDED = SubscriberStatus.SUSPENDED
BARRED = SubscriberStatus.BARRED
CLOSED = SubscriberStatus.CLOSED

# The lifecycle written out by hand, independently of ALLOWED_TRANSITIONS.
ALLOWED = {
    (ACTIVE, SUSPENDED),
    (ACTIVE, BARRED),
    (ACTIVE, CLOSED),
    (SUSPENDED, ACTIVE),
    (SUSPENDED, BARRED),
    (SUSPENDED, CLOSED),
    (BARRED, ACTIVE),
    (BARRED, CLOSED),
}
EVERY_PAIR = list(itertools.product(SubscriberStatus, repeat=2))


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transitions_pass(current: SubscriberStatus, target: SubscriberStatus) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"), [pair for pair in EVERY_PAIR if pair not in ALLOWED]
)
def test_every_other_transition_is_refused(
    current: SubscriberStatus, target: SubscriberStatus
) -> None:
    with pytest.raises(InvalidStatusTransition) as caught:
        check_transition(current, target)
    error = caught.value
    assert error.code == "invalid_status_transition"
    assert error.http_status == 409
    assert error.details == {"current": current.value, "target": target.value}


def test_the_table_covers_sixteen_pairs_of_which_eight_are_allowed() -> None:
    assert len(EVERY_PAIR) == 16
    assert len(ALLOWED) == 8


def test_a_closed_number_never_changes_again() -> None:
    for target in SubscriberStatus:
        with pytest.raises(InvalidStatusTransition):
            check_transition(CLOSED, target)


def test_a_barred_number_cannot_hide_in_suspended() -> None:
    with pytest.raises(InvalidStatusTransition, match="barred number cannot become suspended"):
        check_transition(BARRED, SUSPENDED)


@pytest.mark.parametrize(
    ("text", "status"),
    [("active", ACTIVE), (" Suspended ", SUSPENDED), ("BARRED", BARRED), ("closed", CLOSED)],
)
def test_status_names_are_read_case_insensitively(text: str, status: SubscriberStatus) -> None:
    assert parse_status(text) is status


@pytest.mark.parametrize("text", ["", "blocked", "activ", "deleted", "1"])
def test_unknown_status_is_a_validation_error_listing_the_known_ones(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_status(text)
    assert caught.value.code == "validation_error"
    assert "active, suspended, barred, closed" in caught.value.message


def test_languages() -> None:
    assert parse_language("KK") is Language.KK
    with pytest.raises(ValidationError):
        parse_language("de")


def test_names_are_trimmed_and_must_be_printable() -> None:
    assert clean_name("  Айгерим   Сейтқали ") == "Айгерим Сейтқали"
    for bad in ["", "   ", "x" * 201, "Bad\x00name"]:
        with pytest.raises(ValidationError):
            clean_name(bad)


def test_email_is_optional_but_checked() -> None:
    assert clean_email(None) is None
    assert clean_email("") is None
    assert clean_email(" a@example.kz ") == "a@example.kz"
    for bad in ["a", "a@b", "a b@example.kz", "@example.kz"]:
        with pytest.raises(ValidationError):
            clean_email(bad)


def test_brand_comes_from_the_three_digit_prefix() -> None:
    assert brand_for_prefix("+77071234567", DEFAULT_PREFIXES) == "tele2"
    assert brand_for_prefix("+77011234567", DEFAULT_PREFIXES) == "kcell"
    assert brand_for_prefix("+77991234567", DEFAULT_PREFIXES) is None
