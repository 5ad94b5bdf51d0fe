"""The CloudPayments-style adapter against recorded answers, through an HTTP mock (respx)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from abonent.cards.acquirer import (
    AcquirerTimeout,
    AcquirerUnavailable,
    ChargeStatus,
    OperationState,
)
from abonent.cards.acquirers.cloudpayments import CloudPaymentsAcquirer

BASE = "https://api.cloudpayments.test"
RECORDED = Path(__file__).parent / "cloudpayments_responses"


def answer(name: str, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=(RECORDED / name).read_bytes(), headers={"Content-Type": "application/json"}
    )


@pytest.fixture
def acquirer() -> Iterator[CloudPaymentsAcquirer]:
    with httpx.Client(base_url=BASE, auth=("pk_test", "secret"), timeout=5) as client:
        yield CloudPaymentsAcquirer(client, public_id="pk_test")


def charge(acquirer: CloudPaymentsAcquirer, *, customer: bool = True):  # type: ignore[no-untyped-def]
    return acquirer.charge(
        token="tk_020c1e0f5ab23bd4e2b18bd5ae7fb",
        amount=200_050,
        operation_id="cpOP1",
        description="Top-up +77071234567",
        customer=customer,
    )


@respx.mock
def test_completed_charge_sends_exact_amount_and_idempotency_key(
    acquirer: CloudPaymentsAcquirer,
) -> None:
    route = respx.post(f"{BASE}/payments/tokens/charge").mock(
        return_value=answer("charge_completed.json")
    )
    result = charge(acquirer, customer=False)
    assert result.status is ChargeStatus.APPROVED and result.acquirer_txn_id == "891583633"
    sent = route.calls.last.request
    assert sent.headers["X-Request-ID"] == "cpOP1"
    assert sent.headers["Authorization"].startswith("Basic ")
    assert b'"Amount": 2000.50' in sent.content  # a JSON number, never through a float
    body = json.loads(sent.content)
    assert (body["InvoiceId"], body["Currency"], body["TrInitiatorCode"]) == ("cpOP1", "KZT", 0)


@respx.mock
def test_declined_charge(acquirer: CloudPaymentsAcquirer) -> None:
    respx.post(f"{BASE}/payments/tokens/charge").mock(return_value=answer("charge_declined.json"))
    result = charge(acquirer)
    assert result.status is ChargeStatus.DECLINED
    assert "Недостаточно средств" in result.reason and "5051" in result.reason


@respx.mock
def test_refused_request_is_a_decline(acquirer: CloudPaymentsAcquirer) -> None:
    respx.post(f"{BASE}/payments/tokens/charge").mock(return_value=answer("charge_refused.json"))
    result = charge(acquirer)
    assert result.status is ChargeStatus.DECLINED and result.reason == "Token not found"


@respx.mock
def test_three_d_secure_then_post3ds(acquirer: CloudPaymentsAcquirer) -> None:
    respx.post(f"{BASE}/payments/tokens/charge").mock(return_value=answer("charge_3ds.json"))
    respx.post(f"{BASE}/payments/cards/post3ds").mock(return_value=answer("post3ds_completed.json"))
    first = charge(acquirer)
    assert first.status is ChargeStatus.REQUIRES_3DS and first.acs_url
    done = acquirer.confirm_3ds(acquirer_txn_id="891583635", pa_res="eJxV")
    assert done.status is ChargeStatus.APPROVED


@respx.mock
def test_timeouts_and_server_errors_are_unknown_outcomes(acquirer: CloudPaymentsAcquirer) -> None:
    route = respx.post(f"{BASE}/payments/tokens/charge")
    route.mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(AcquirerTimeout):
        charge(acquirer)
    route.mock(return_value=httpx.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(AcquirerUnavailable):
        charge(acquirer)
    route.mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(AcquirerUnavailable):
        charge(acquirer)
    route.mock(return_value=httpx.Response(200, text="not json"))
    with pytest.raises(AcquirerUnavailable):
        charge(acquirer)


@respx.mock
@pytest.mark.parametrize(
    ("recording", "state", "amount"),
    [
        ("find_completed.json", OperationState.CAPTURED, 200_000),
        ("find_declined.json", OperationState.DECLINED, 200_000),
        ("find_authorized.json", OperationState.PENDING, 200_000),
        ("find_not_found.json", OperationState.NOT_FOUND, None),
    ],
)
def test_query_by_operation_id(
    acquirer: CloudPaymentsAcquirer, recording: str, state: OperationState, amount: int | None
) -> None:
    route = respx.post(f"{BASE}/v2/payments/find").mock(return_value=answer(recording))
    info = acquirer.query("cpOP1")
    assert (info.state, info.amount) == (state, amount)
    assert json.loads(route.calls.last.request.content) == {"InvoiceId": "cpOP1"}


@respx.mock
def test_tokenisation_result_keeps_only_token_last4_brand_expiry(
    acquirer: CloudPaymentsAcquirer,
) -> None:
    start = acquirer.start_tokenization("clSESSION", "https://abonent.example.kz/cards/link/return")
    assert start.redirect_url.startswith("https://widget.cloudpayments.ru/pay?publicId=pk_test")
    respx.post(f"{BASE}/v2/payments/find").mock(return_value=answer("find_completed.json"))
    card = acquirer.tokenization_result("clSESSION")
    assert card is not None
    assert (card.token, card.last4, card.brand, card.exp_month, card.exp_year) == (
        "tk_020c1e0f5ab23bd4e2b18bd5ae7fb",
        "1111",
        "VISA",
        12,
        2030,
    )


@respx.mock
def test_refund(acquirer: CloudPaymentsAcquirer) -> None:
    route = respx.post(f"{BASE}/payments/refund").mock(return_value=answer("refund_ok.json"))
    info = acquirer.refund(acquirer_txn_id="891583633", amount=200_000, operation_id="cpOP1")
    assert info.state is OperationState.REFUNDED
    assert b'"Amount": 2000.00' in route.calls.last.request.content
