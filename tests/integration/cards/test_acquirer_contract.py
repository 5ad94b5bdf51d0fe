"""One contract, every acquirer adapter: the sandbox and the CloudPayments-style adapter (against
a stateful fake of its HTTP API, through respx) answer the same scenarios the same way."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
import respx

from abonent.cards.acquirer import Acquirer, ChargeStatus, OperationState
from abonent.cards.acquirers.cloudpayments import CloudPaymentsAcquirer
from abonent.db.uow import Database
from tests.factories import add_subscriber
from tests.integration.cards.support import DECLINE_CARD, link_card, sandbox

pytestmark = pytest.mark.storage
BASE = "https://api.cloudpayments.test"


@dataclass
class Subject:
    acquirer: Acquirer
    approve_token: str
    decline_token: str


class FakeCloudPayments:
    """Enough of the provider's behaviour for the contract: token charges idempotent by
    ``X-Request-ID``, ``find`` by ``InvoiceId``, refunds."""

    def __init__(self) -> None:
        self.operations: dict[str, dict[str, object]] = {}
        self.charges = 0
        self._ids = itertools.count(5000)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content, parse_float=Decimal)
        path = request.url.path
        if path == "/payments/tokens/charge":
            key = request.headers.get("X-Request-ID") or body["InvoiceId"]
            if key not in self.operations:
                self.charges += 1
                declined = body["Token"] == "tk_decline"
                self.operations[key] = {
                    "TransactionId": next(self._ids),
                    "Amount": body["Amount"],
                    "InvoiceId": body["InvoiceId"],
                    "Status": "Declined" if declined else "Completed",
                    "ReasonCode": 5051 if declined else 0,
                    "CardHolderMessage": "Недостаточно средств" if declined else "OK",
                }
            model = self.operations[key]
            return self._answer(model, success=model["Status"] == "Completed")
        if path == "/v2/payments/find":
            found = self.operations.get(body["InvoiceId"])
            if found is None:
                return httpx.Response(200, json={"Success": False, "Message": "Not found"})
            return self._answer(found, success=True)
        if path == "/payments/refund":
            return httpx.Response(200, json={"Success": True, "Message": None, "Model": {}})
        return httpx.Response(404)

    @staticmethod
    def _answer(model: dict[str, object], *, success: bool) -> httpx.Response:
        # The provider writes amounts as JSON numbers (2000.5); the adapter reads them exactly.
        content = json.dumps({"Success": success, "Message": None, "Model": model}, default=float)
        return httpx.Response(200, content=content.encode())


@pytest.fixture(params=["sandbox", "cloudpayments"])
def subject(request: pytest.FixtureRequest, db: Database) -> Iterator[Subject]:
    if request.param == "sandbox":
        add_subscriber(db, "+77071234567")
        acquirer = sandbox(db)
        approve = link_card(db, acquirer, "+77071234567")
        decline = link_card(db, acquirer, "+77071234567", DECLINE_CARD)
        yield Subject(acquirer, approve.token, decline.token)
        return
    fake = FakeCloudPayments()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=fake.handle)
        client = httpx.Client(base_url=BASE, auth=("pk", "secret"))
        yield Subject(CloudPaymentsAcquirer(client, public_id="pk"), "tk_ok", "tk_decline")
        client.close()


def test_an_approved_charge_is_captured_once_and_found_by_our_operation_id(
    subject: Subject,
) -> None:
    first = subject.acquirer.charge(
        token=subject.approve_token,
        amount=200_050,
        operation_id="op-1",
        description="t",
        customer=True,
    )
    again = subject.acquirer.charge(
        token=subject.approve_token,
        amount=200_050,
        operation_id="op-1",
        description="t",
        customer=True,
    )
    assert first.status is ChargeStatus.APPROVED and again == first
    info = subject.acquirer.query("op-1")
    assert (info.state, info.acquirer_txn_id, info.amount) == (
        OperationState.CAPTURED,
        first.acquirer_txn_id,
        200_050,
    )


def test_a_declined_charge_is_declined_when_asked_again(subject: Subject) -> None:
    result = subject.acquirer.charge(
        token=subject.decline_token,
        amount=100_000,
        operation_id="op-2",
        description="t",
        customer=False,
    )
    assert result.status is ChargeStatus.DECLINED and result.reason
    assert subject.acquirer.query("op-2").state is OperationState.DECLINED


def test_an_operation_never_sent_is_not_found(subject: Subject) -> None:
    assert subject.acquirer.query("op-never").state is OperationState.NOT_FOUND


def test_a_captured_charge_can_be_refunded(subject: Subject) -> None:
    charged = subject.acquirer.charge(
        token=subject.approve_token,
        amount=100_000,
        operation_id="op-3",
        description="t",
        customer=True,
    )
    assert charged.acquirer_txn_id is not None
    refunded = subject.acquirer.refund(
        acquirer_txn_id=charged.acquirer_txn_id, amount=100_000, operation_id="op-3"
    )
    assert refunded.state is OperationState.REFUNDED
