"""Ledger rules without a database: what a valid transaction is and how a reversal looks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abonent.core.errors import InvalidAmount, ValidationError
from abonent.ledger.domain import (
    Account,
    PostedTransaction,
    Posting,
    TransactionRequest,
    check_floor,
    reversal_request,
    transfer_request,
)

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def request(*postings: tuple[int, Any], **overrides: Any) -> TransactionRequest:
    fields: dict[str, Any] = {"kind": "test", "source": "tests", "idempotency_key": "k1"}
    fields.update(overrides)
    return TransactionRequest(postings=tuple(Posting(a, m) for a, m in postings), **fields)


def test_a_balanced_transaction_is_accepted() -> None:
    r = request((1, -500), (2, 300), (3, 200))
    assert sum(p.amount for p in r.postings) == 0


@pytest.mark.parametrize(
    "postings",
    [
        pytest.param(((1, -500), (2, 499)), id="sums-to-minus-one"),
        pytest.param(((1, 500), (2, 500)), id="both-credits"),
        pytest.param(((1, -1), (2, 1), (3, 1)), id="three-legs-off-by-one"),
    ],
)
def test_unbalanced_transactions_are_refused(postings: tuple[tuple[int, int], ...]) -> None:
    with pytest.raises(ValidationError, match="sum to zero"):
        request(*postings)


@pytest.mark.parametrize("postings", [(), ((1, 0),)])
def test_fewer_than_two_postings_are_refused(postings: tuple[tuple[int, int], ...]) -> None:
    with pytest.raises(ValidationError, match="two postings"):
        request(*postings)


def test_a_zero_posting_is_refused_as_invalid_amount() -> None:
    with pytest.raises(InvalidAmount, match="zero"):
        request((1, 0), (2, 0))
    with pytest.raises(InvalidAmount):
        request((1, -5), (2, 5), (3, 0))


@pytest.mark.parametrize("amount", [5.0, 5.5, True, "5"])
def test_non_integer_postings_are_refused_as_invalid_amount(amount: Any) -> None:
    with pytest.raises(InvalidAmount):
        request((1, -5), (2, amount))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", ""),
        ("kind", "k" * 41),
        ("source", ""),
        ("source", "s" * 61),
        ("idempotency_key", ""),
        ("idempotency_key", "i" * 161),
    ],
)
def test_kind_source_and_key_are_required_and_bounded(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        request((1, -5), (2, 5), **{field: value})


def test_the_longest_allowed_source_and_key_are_accepted() -> None:
    r = request((1, -5), (2, 5), kind="k" * 40, source="s" * 60, idempotency_key="i" * 160)
    assert len(r.idempotency_key) == 160


def test_fingerprint_ignores_posting_order_key_and_reference() -> None:
    a = request((1, -500), (2, 300), (3, 200), idempotency_key="a", reference="x")
    b = request((3, 200), (1, -500), (2, 300), idempotency_key="b", reference="y")
    assert a.fingerprint == b.fingerprint


def test_fingerprint_is_stable_across_runs() -> None:
    # A stored fingerprint must keep matching after a restart or an upgrade: it is a pure
    # function of kind, sorted legs and reversal target, sha256("test|1:-500,2:500|").
    expected = "fb477db6969f29f9099b6117687a2cdafa45ab6d6cd5a9c264b5e6d62cee9f69"
    assert request((1, -500), (2, 500)).fingerprint == expected
    assert request((2, 500), (1, -500), idempotency_key="other").fingerprint == expected


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"postings": ((1, -501), (2, 501))}, id="amount"),
        pytest.param({"postings": ((1, -500), (3, 500))}, id="account"),
        pytest.param({"kind": "other"}, id="kind"),
        pytest.param({"reverses_id": 7}, id="reversal-target"),
    ],
)
def test_fingerprint_changes_with_what_is_asked(other: dict[str, Any]) -> None:
    base = request((1, -500), (2, 500))
    postings = other.pop("postings", ((1, -500), (2, 500)))
    assert request(*postings, **other).fingerprint != base.fingerprint


def test_net_by_account_sums_legs_in_ascending_account_order_and_drops_zeros() -> None:
    r = request((9, -100), (3, 40), (9, 60), (1, 30), (3, -30), (5, 10), (5, -10))
    net = r.net_by_account()
    assert list(net) == [1, 3, 9]
    assert net == {1: 30, 3: 10, 9: -40}


@given(
    st.lists(
        st.tuples(st.integers(1, 50), st.integers(-(10**9), 10**9).filter(bool)),
        min_size=1,
        max_size=12,
    )
)
def test_net_by_account_is_sorted_and_conserves_money(legs: list[tuple[int, int]]) -> None:
    balancing = -sum(m for _, m in legs)
    postings = [*legs, (51, balancing)] if balancing else [*legs, (51, 1), (52, -1)]
    r = request(*postings)
    net = r.net_by_account()
    assert list(net) == sorted(net)
    assert sum(net.values()) == 0
    assert all(delta != 0 for delta in net.values())


def test_transfer_request_debits_one_account_and_credits_another() -> None:
    r = transfer_request(
        kind="t", source="s", idempotency_key="k", debit_account_id=4, credit_account_id=2, amount=7
    )
    assert r.postings == (Posting(4, -7), Posting(2, 7))


@pytest.mark.parametrize("amount", [0, -7, 7.0, True])
def test_transfer_request_needs_a_positive_integer_amount(amount: Any) -> None:
    with pytest.raises(InvalidAmount):
        transfer_request(
            kind="t",
            source="s",
            idempotency_key="k",
            debit_account_id=1,
            credit_account_id=2,
            amount=amount,
        )


def test_transfer_to_the_same_account_is_refused() -> None:
    with pytest.raises(ValidationError, match="two different accounts"):
        transfer_request(
            kind="t",
            source="s",
            idempotency_key="k",
            debit_account_id=1,
            credit_account_id=1,
            amount=7,
        )


def test_reversal_negates_every_posting_and_points_at_the_original() -> None:
    original = PostedTransaction(
        id=42,
        kind="topup.agent",
        source="agent:KASPI",
        idempotency_key="1001",
        reference="top-up",
        fingerprint="f",
        created_at=NOW,
        postings=(Posting(1, -500), Posting(2, 450), Posting(3, 50)),
    )
    r = reversal_request(original, source="support", idempotency_key="rev-42")
    assert r.kind == "reversal"
    assert r.reverses_id == 42
    assert r.postings == (Posting(1, 500), Posting(2, -450), Posting(3, -50))
    assert r.reference == "reversal of 42"
    assert (r.source, r.idempotency_key) == ("support", "rev-42")
    assert reversal_request(
        original, source="s", idempotency_key="k", reference="why"
    ).reference == ("why")
    assert original.amount_for(2) == 450 and original.amount_for(99) == 0


@pytest.mark.parametrize(
    ("balance", "floor", "delta", "allowed"),
    [
        (100, 0, -100, True),  # down to the floor exactly
        (100, 0, -101, False),  # one tiyn past it
        (0, 0, 1, True),
        (-50, 0, 10, True),  # a credit is allowed even below the floor
        (-50, 0, -1, False),
        (0, -1_000_000, -1_000_000, True),  # postpaid credit limit
        (0, -1_000_000, -1_000_001, False),
        (0, None, -(10**15), True),  # system accounts have no floor
    ],
)
def test_check_floor(balance: int, floor: int | None, delta: int, allowed: bool) -> None:
    assert check_floor(balance, floor, delta) is allowed


def test_available_is_what_the_floor_still_allows() -> None:
    assert Account(1, "a", "subscriber_main", 300, 0).available == 300
    assert Account(1, "a", "subscriber_main", 300, -1000).available == 1300
    assert Account(1, "a", "revenue", -300, None).available is None


@given(
    st.lists(
        st.tuples(st.integers(1, 9), st.integers(-(10**6), 10**6).filter(bool)),
        min_size=1,
        max_size=5,
    ),
    st.one_of(st.none(), st.integers(1, 10**9)),
)
def test_fingerprint_is_sha256_of_kind_sorted_legs_and_reversal_target(
    legs: list[tuple[int, int]], reverses_id: int | None
) -> None:
    # The fast paths (two legs compared, not sorted) must hash exactly the documented text.
    balancing = -sum(m for _, m in legs)
    postings = [*legs, (10, balancing)] if balancing else [*legs, (10, 1), (11, -1)]
    text = ",".join(f"{a}:{m}" for a, m in sorted(postings))
    expected = hashlib.sha256(f"test|{text}|{reverses_id or ''}".encode()).hexdigest()
    assert request(*postings, reverses_id=reverses_id).fingerprint == expected


def test_net_by_account_of_two_legs_on_one_account_is_empty() -> None:
    assert request((4, 100), (4, -100)).net_by_account() == {}
    assert list(request((9, -5), (2, 5)).net_by_account().items()) == [(2, 5), (9, -5)]
