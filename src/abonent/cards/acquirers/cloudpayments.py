"""CloudPayments-style acquirer (used by Kazakh merchants; token charges over a JSON API).

Requests are ``POST`` JSON with HTTP Basic auth (Public ID, API secret); every answer is
``{"Success": bool, "Message": str | null, "Model": {...}}``. What we use:

- ``/payments/tokens/charge`` — charge a token; ``InvoiceId`` is our operation id and
  ``X-Request-ID`` makes a repeat idempotent. Answers: ``Success`` and ``Model.Status ==
  "Completed"`` (captured); ``Model.PaReq`` + ``Model.AcsUrl`` (3-D Secure); ``Model.Status ==
  "Declined"`` with ``ReasonCode`` / ``CardHolderMessage``; or only ``Message`` (refused request).
- ``/payments/cards/post3ds`` — finish 3-D Secure; ``/v2/payments/find`` — an operation by
  ``InvoiceId`` (the reconciler; also how a card-link session's token is read);
  ``/payments/refund``.
A timeout is ``AcquirerTimeout``; a 5xx, a refused connection or an unreadable body is
``AcquirerUnavailable`` (both leave the payment unknown for the reconciler).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import httpx

from abonent.cards.acquirer import (
    AcquirerError,
    AcquirerTimeout,
    AcquirerUnavailable,
    ChargeResult,
    ChargeStatus,
    OperationInfo,
    OperationState,
    TokenizationStart,
    TokenizedCard,
)
from abonent.cards.settings import CardSettings
from abonent.core.money import Tiyn, format_tenge

_CAPTURED = {"Completed"}
_DECLINED = {"Declined", "Cancelled"}
_PENDING = {"Authorized", "AwaitingAuthentication"}


class CloudPaymentsAcquirer:
    name = "cloudpayments"

    def __init__(
        self,
        client: httpx.Client,
        *,
        public_id: str,
        widget_url: str = "https://widget.cloudpayments.ru/pay",
        currency: str = "KZT",
    ) -> None:
        self.client = client
        self.public_id = public_id
        self.widget_url = widget_url
        self.currency = currency

    @classmethod
    def from_settings(cls, settings: CardSettings) -> CloudPaymentsAcquirer:
        client = httpx.Client(
            base_url=settings.cloudpayments_base_url,
            auth=(settings.cloudpayments_public_id, settings.cloudpayments_api_secret),
            timeout=settings.cloudpayments_timeout_seconds,
        )
        return cls(
            client,
            public_id=settings.cloudpayments_public_id,
            widget_url=settings.cloudpayments_widget_url,
            currency=settings.currency,
        )

    # -- tokenisation ---------------------------------------------------------------------
    def start_tokenization(self, session_id: str, return_url: str) -> TokenizationStart:
        query = urlencode(
            {"publicId": self.public_id, "invoiceId": session_id, "returnUrl": return_url}
        )
        return TokenizationStart(session_id, f"{self.widget_url}?{query}")

    def tokenization_result(self, session_id: str) -> TokenizedCard | None:
        answer = self._post("/v2/payments/find", {"InvoiceId": session_id})
        model = answer.get("Model")
        if not answer.get("Success") or not isinstance(model, dict) or not model.get("Token"):
            return None
        month, _, year = str(model.get("CardExpDate", "")).partition("/")
        if not (month.isdigit() and year.isdigit()):
            raise AcquirerUnavailable("the acquirer sent a card without a readable expiry")
        return TokenizedCard(
            token=str(model["Token"]),
            last4=str(model.get("CardLastFour", ""))[-4:],
            brand=str(model.get("CardType", "CARD")).upper()[:20],
            exp_month=int(month),
            exp_year=2000 + int(year) if len(year) == 2 else int(year),
        )

    # -- payments -------------------------------------------------------------------------
    def charge(
        self, *, token: str, amount: Tiyn, operation_id: str, description: str, customer: bool
    ) -> ChargeResult:
        answer = self._post(
            "/payments/tokens/charge",
            {
                "Amount": _Amount(amount),
                "Currency": self.currency,
                "Token": token,
                "InvoiceId": operation_id,
                "Description": description,
                # 1: the cardholder is present; 0: merchant-initiated (recurring) charge.
                "TrInitiatorCode": 1 if customer else 0,
            },
            request_id=operation_id,
        )
        return _charge_result(answer)

    def confirm_3ds(self, *, acquirer_txn_id: str, pa_res: str) -> ChargeResult:
        answer = self._post(
            "/payments/cards/post3ds", {"TransactionId": acquirer_txn_id, "PaRes": pa_res}
        )
        return _charge_result(answer)

    def query(self, operation_id: str) -> OperationInfo:
        answer = self._post("/v2/payments/find", {"InvoiceId": operation_id})
        model = answer.get("Model")
        if not answer.get("Success") or not isinstance(model, dict):
            if "not found" in str(answer.get("Message", "")).lower():
                return OperationInfo(OperationState.NOT_FOUND)
            raise AcquirerUnavailable("the acquirer did not say what happened to the payment")
        status = str(model.get("Status", ""))
        txn = _txn(model)
        amount = _tiyn(model.get("Amount"))
        if status in _CAPTURED:
            return OperationInfo(OperationState.CAPTURED, txn, amount)
        if status in _DECLINED:
            reason = str(model.get("CardHolderMessage") or model.get("Reason") or status)
            return OperationInfo(OperationState.DECLINED, txn, amount, reason)
        if status in _PENDING:
            return OperationInfo(OperationState.PENDING, txn, amount)
        raise AcquirerUnavailable(f"unexpected payment status from the acquirer: {status[:40]}")

    def refund(self, *, acquirer_txn_id: str, amount: Tiyn, operation_id: str) -> OperationInfo:
        answer = self._post(
            "/payments/refund",
            {"TransactionId": acquirer_txn_id, "Amount": _Amount(amount)},
            request_id=f"refund-{operation_id}",
        )
        if not answer.get("Success"):
            raise AcquirerError(str(answer.get("Message") or "the refund was refused")[:200])
        return OperationInfo(OperationState.REFUNDED, acquirer_txn_id, amount)

    # -- transport ------------------------------------------------------------------------
    def _post(
        self, path: str, payload: dict[str, Any], *, request_id: str | None = None
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            response = self.client.post(path, content=_dumps(payload), headers=headers)
        except httpx.TimeoutException:
            raise AcquirerTimeout("the acquirer did not answer in time") from None
        except httpx.TransportError:
            raise AcquirerUnavailable("the acquirer could not be reached") from None
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            raise AcquirerUnavailable(f"the acquirer answered HTTP {response.status_code}")
        try:
            data = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise AcquirerUnavailable("the acquirer's answer is not JSON") from None
        if not isinstance(data, dict) or "Success" not in data:
            raise AcquirerUnavailable("the acquirer's answer has no Success field")
        return data


class _Amount:
    """Tenge with two decimals, written into JSON as a number without passing through float."""

    def __init__(self, tiyn: Tiyn) -> None:
        self.text = format_tenge(tiyn)


def _dumps(payload: dict[str, Any]) -> bytes:
    marker = "\x00amount\x00"
    amounts = {k: v.text for k, v in payload.items() if isinstance(v, _Amount)}
    plain = {k: (marker + k if k in amounts else v) for k, v in payload.items()}
    text = json.dumps(plain, ensure_ascii=False)
    for key, value in amounts.items():
        text = text.replace(json.dumps(marker + key), value)
    return text.encode()


def _txn(model: dict[str, Any]) -> str | None:
    value = model.get("TransactionId")
    return None if value is None else str(value)


def _tiyn(value: object) -> Tiyn | None:
    if value is None:
        return None
    try:
        cents = Decimal(str(value)) * 100
    except InvalidOperation:
        return None
    return int(cents) if cents == cents.to_integral_value() else None


def _charge_result(answer: dict[str, Any]) -> ChargeResult:
    model = answer.get("Model")
    if not isinstance(model, dict):
        # A refused request (bad token, wrong amount): nothing was charged.
        return ChargeResult(
            ChargeStatus.DECLINED, reason=str(answer.get("Message") or "refused")[:200]
        )
    txn = _txn(model)
    if answer.get("Success") and str(model.get("Status", "")) in _CAPTURED:
        return ChargeResult(ChargeStatus.APPROVED, txn)
    if model.get("AcsUrl") and model.get("PaReq"):
        return ChargeResult(ChargeStatus.REQUIRES_3DS, txn, acs_url=str(model["AcsUrl"]))
    reason = str(model.get("CardHolderMessage") or model.get("Reason") or "declined")
    code = model.get("ReasonCode")
    return ChargeResult(
        ChargeStatus.DECLINED, txn, reason=f"{reason} ({code})" if code is not None else reason
    )
