"""JSON API of the cabinet's money and service features (tariffs, options, card top-ups,
statements); mounted on the cabinet API router. Every route authorises through
``access.authorize`` (in ``selfcare``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from abonent.bootstrap import Container
from abonent.cabinet import selfcare
from abonent.core.money import format_tenge, parse_tenge
from abonent.core.msisdn import national10
from abonent.web.app import container_of
from abonent.web.security import SignedIn, auth_policy

router = APIRouter(prefix="/api/v1", tags=["cabinet"])
ContainerDep = Annotated[Container, Depends(container_of)]
Msisdn = Annotated[str, Path(max_length=32, examples=["7071234567"])]
Code = Annotated[str, Path(max_length=32, examples=["DATA5"])]
DAY = r"^\d{4}-\d{2}-\d{2}$"


class Offer(BaseModel):
    code: str = Field(examples=["MONTH"])
    name: str
    names: dict[str, str]
    period: str = Field(examples=["calendar_month"])
    fee_tiyn: int
    fee: str = Field(examples=["2990.00"])
    charge_now_tiyn: int = Field(description="what choosing it costs now (fee plus change fee)")
    current: bool
    bundles: dict[str, int]
    rates_tiyn: dict[str, int]


class RemainderOut(BaseModel):
    kind: str = Field(examples=["data_mb"])
    unit: str = Field(examples=["MB"])
    used: int
    left: int
    expires_at: datetime
    product: str


class OptionOut(BaseModel):
    code: str
    names: dict[str, str]
    fee_tiyn: int
    state: str
    period_end: datetime


class Subscription(BaseModel):
    msisdn: str
    tariff: str
    names: dict[str, str]
    fee_tiyn: int
    fee: str
    period: str
    state: str = Field(examples=["active"])
    period_start: datetime
    period_end: datetime
    remainders: list[RemainderOut]
    options: list[OptionOut]


class ProductChoice(BaseModel):
    code: str = Field(min_length=1, max_length=32, examples=["MONTH"])


class Done(BaseModel):
    status: str


class CardTopUpIn(BaseModel):
    card_id: int = Field(ge=1, le=2**62)
    amount: str = Field(max_length=20, examples=["2000.00"], description="tenge")
    idempotency_key: str = Field(min_length=1, max_length=100)


class CardPaymentOut(BaseModel):
    operation_id: str
    status: str = Field(examples=["captured"])
    amount: str
    target: str
    credited: bool
    acs_url: str | None = Field(description="open it for 3-D Secure when status is pending_3ds")
    reason: str


class CategoryOut(BaseModel):
    category: str
    count: int
    units: int
    unit: str
    amount_tiyn: int


class ShortStatementOut(BaseModel):
    msisdn: str
    period_from: datetime
    period_to: datetime
    categories: list[CategoryOut]
    charged_tiyn: int
    credited_tiyn: int


class FullStatementIn(BaseModel):
    period_from: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2026-01-01"])
    period_to: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2026-01-15"])
    email: str | None = Field(default=None, max_length=320)


class FullStatementOut(BaseModel):
    order_id: int
    fee_tiyn: int
    charged_now: bool = Field(description="false when this period was paid for before")
    emailed_to: str | None
    summary: ShortStatementOut


def _offer(o: object, lang: str) -> Offer:
    p = o.product  # type: ignore[attr-defined]
    return Offer(
        code=p.code,
        name=p.name(lang),
        names=dict(p.names),
        period=str(p.period.value),
        fee_tiyn=p.fee,
        fee=format_tenge(p.fee),
        charge_now_tiyn=o.charge_now,  # type: ignore[attr-defined]
        current=o.current,  # type: ignore[attr-defined]
        bundles={k: int(getattr(p.bundles, k)) for k in p.bundles.__dataclass_fields__},
        rates_tiyn={k: int(getattr(p.rates, k)) for k in p.rates.__dataclass_fields__},
    )


def _option(o: object) -> OptionOut:
    return OptionOut(
        code=o.code,  # type: ignore[attr-defined]
        names=dict(o.names),  # type: ignore[attr-defined]
        fee_tiyn=o.fee,  # type: ignore[attr-defined]
        state=o.state,  # type: ignore[attr-defined]
        period_end=o.period_end,  # type: ignore[attr-defined]
    )


def subscription_out(s: object) -> Subscription:
    return Subscription(
        msisdn=national10(s.msisdn),  # type: ignore[attr-defined]
        tariff=s.tariff_code,  # type: ignore[attr-defined]
        names=dict(s.names),  # type: ignore[attr-defined]
        fee_tiyn=s.fee,  # type: ignore[attr-defined]
        fee=format_tenge(s.fee),  # type: ignore[attr-defined]
        period=str(s.period),  # type: ignore[attr-defined]
        state=s.state,  # type: ignore[attr-defined]
        period_start=s.period_start,  # type: ignore[attr-defined]
        period_end=s.period_end,  # type: ignore[attr-defined]
        remainders=[
            RemainderOut(
                kind=r.kind,
                unit=r.unit,
                used=r.used,
                left=r.left,
                expires_at=r.expires_at,
                product=r.product_code,
            )
            for r in s.remainders  # type: ignore[attr-defined]
        ],
        options=[_option(o) for o in s.options],  # type: ignore[attr-defined]
    )


def _short(s: object) -> ShortStatementOut:
    return ShortStatementOut(
        msisdn=national10(s.msisdn),  # type: ignore[attr-defined]
        period_from=s.period_from,  # type: ignore[attr-defined]
        period_to=s.period_to,  # type: ignore[attr-defined]
        categories=[
            CategoryOut(
                category=c.category, count=c.count, units=c.units, unit=c.unit, amount_tiyn=c.amount
            )
            for c in s.categories  # type: ignore[attr-defined]
        ],
        charged_tiyn=s.charged,  # type: ignore[attr-defined]
        credited_tiyn=s.credited,  # type: ignore[attr-defined]
    )


@router.get("/subscribers/{msisdn}/subscription", response_model=Subscription)
def subscription(msisdn: Msisdn, principal: SignedIn, c: ContainerDep) -> Subscription:
    """The tariff, its period and the bundle remainders with their expiry (view right)."""
    found = selfcare.summary(c.db, principal.subscriber, msisdn)
    if found is None:
        from abonent.core.errors import NotFound

        raise NotFound("this number has no tariff")
    return subscription_out(found)


@router.get("/subscribers/{msisdn}/tariffs", response_model=list[Offer])
def tariffs(msisdn: Msisdn, principal: SignedIn, c: ContainerDep) -> list[Offer]:
    """Tariffs the number may move to, with conditions and what the change costs now."""
    lang = principal.subscriber.language.value
    return [_offer(o, lang) for o in selfcare.tariffs(c.db, principal.subscriber, msisdn)]


@router.post("/subscribers/{msisdn}/tariff", response_model=Subscription)
def change_tariff(
    msisdn: Msisdn, body: ProductChoice, principal: SignedIn, c: ContainerDep
) -> Subscription:
    """Move the number to another tariff at once (full right)."""
    return subscription_out(selfcare.change_tariff(c.db, principal.subscriber, msisdn, body.code))


@router.get("/subscribers/{msisdn}/options", response_model=list[Offer])
def options(msisdn: Msisdn, principal: SignedIn, c: ContainerDep) -> list[Offer]:
    lang = principal.subscriber.language.value
    return [_offer(o, lang) for o in selfcare.options(c.db, principal.subscriber, msisdn)]


@router.post("/subscribers/{msisdn}/options", response_model=OptionOut, status_code=201)
def connect_option(
    msisdn: Msisdn, body: ProductChoice, principal: SignedIn, c: ContainerDep
) -> OptionOut:
    """Connect an option (full right); its fee is charged now."""
    return _option(selfcare.connect_option(c.db, principal.subscriber, msisdn, body.code))


@router.delete("/subscribers/{msisdn}/options/{code}", response_model=Done)
def disconnect_option(msisdn: Msisdn, code: Code, principal: SignedIn, c: ContainerDep) -> Done:
    selfcare.disconnect_option(c.db, principal.subscriber, msisdn, code)
    return Done(status="disconnected")


@router.post("/subscribers/{msisdn}/topups/card", response_model=CardPaymentOut)
def card_topup(
    msisdn: Msisdn, body: CardTopUpIn, principal: SignedIn, c: ContainerDep
) -> CardPaymentOut:
    """Top up the number (pay right) from one of the signed-in subscriber's linked cards."""
    from abonent.cards.acquirers import acquirer_for

    payment = selfcare.card_topup(
        c.db,
        acquirer_for(c),
        principal.subscriber,
        msisdn,
        card_id=body.card_id,
        amount=parse_tenge(body.amount),
        idempotency_key=body.idempotency_key,
    )
    return CardPaymentOut(
        operation_id=payment.operation_id,
        status=payment.status.value,
        amount=format_tenge(payment.amount),
        target=national10(payment.target_msisdn),
        credited=payment.credited,
        acs_url=payment.acs_url,
        reason=payment.reason,
    )


@router.get("/subscribers/{msisdn}/statements/short", response_model=ShortStatementOut)
def short_statement(
    msisdn: Msisdn,
    principal: SignedIn,
    c: ContainerDep,
    period_from: Annotated[str | None, Query(alias="from", max_length=10, pattern=DAY)] = None,
    period_to: Annotated[str | None, Query(alias="to", max_length=10, pattern=DAY)] = None,
) -> ShortStatementOut:
    """Totals by category for a period (free; view right). Default: the last 30 days."""
    period = selfcare.period_of(period_from or "", period_to or "", c.clock.now())
    return _short(selfcare.short_statement(c.db, principal.subscriber, msisdn, period))


@router.post("/subscribers/{msisdn}/statements/full", response_model=FullStatementOut)
def full_statement(
    msisdn: Msisdn, body: FullStatementIn, principal: SignedIn, c: ContainerDep
) -> FullStatementOut:
    """Order the full detail (full right): the fee is charged once per period; e-mailed."""
    period = selfcare.period_of(body.period_from, body.period_to, c.clock.now())
    done = selfcare.order_full_statement(
        c.db, principal.subscriber, msisdn, period, c.settings, body.email
    )
    return FullStatementOut(
        order_id=done.order_id,
        fee_tiyn=done.fee,
        charged_now=done.charged_now,
        emailed_to=done.emailed_to,
        summary=_short(done.summary),
    )


# -- trust credit and balance transfers ----------------------------------------------------
class CreditTierOut(BaseModel):
    amount_tiyn: int = Field(examples=[50000])
    fee_tiyn: int = Field(examples=[2500])


class TrustCreditOut(BaseModel):
    amount_tiyn: int
    fee_tiyn: int
    outstanding_tiyn: int = Field(description="still owed")
    status: str = Field(examples=["open"])
    taken_at: datetime
    due_at: datetime


class CreditOut(BaseModel):
    current: TrustCreditOut | None
    offers: list[CreditTierOut]
    refusal: str | None = Field(description="why nothing may be taken now", examples=["in_debt"])
    term_days: int


class CreditTake(BaseModel):
    amount: str = Field(max_length=20, examples=["500.00"], description="tenge")
    idempotency_key: str = Field(min_length=1, max_length=100)


class TransferQuoteIn(BaseModel):
    recipient: str = Field(max_length=32, examples=["7071234568"])
    amount: str = Field(max_length=20, examples=["1000.00"], description="tenge")


class TransferIn(TransferQuoteIn):
    idempotency_key: str = Field(min_length=1, max_length=100)


class TransferQuoteOut(BaseModel):
    recipient: str
    amount_tiyn: int
    fee_tiyn: int
    net_tiyn: int = Field(description="what the recipient gets")


class TransferOut(TransferQuoteOut):
    balance_after_tiyn: int
    created_at: datetime


def _credit(t: object) -> TrustCreditOut:
    return TrustCreditOut(
        amount_tiyn=t.amount,  # type: ignore[attr-defined]
        fee_tiyn=t.fee,  # type: ignore[attr-defined]
        outstanding_tiyn=t.outstanding,  # type: ignore[attr-defined]
        status=t.status.value,  # type: ignore[attr-defined]
        taken_at=t.taken_at,  # type: ignore[attr-defined]
        due_at=t.due_at,  # type: ignore[attr-defined]
    )


@router.get("/subscribers/{msisdn}/credit", response_model=CreditOut)
def credit(msisdn: Msisdn, principal: SignedIn, c: ContainerDep) -> CreditOut:
    """The open trust credit (debt and deadline) and what may be taken now (view right)."""
    view = selfcare.credit(c.db, principal.subscriber, msisdn)
    return CreditOut(
        current=_credit(view.current) if view.current else None,
        offers=[CreditTierOut(amount_tiyn=t.amount, fee_tiyn=t.fee) for t in view.tiers],
        refusal=view.refusal,
        term_days=view.term_days,
    )


@router.post("/subscribers/{msisdn}/credit", response_model=TrustCreditOut, status_code=201)
def take_credit(
    msisdn: Msisdn, body: CreditTake, principal: SignedIn, c: ContainerDep
) -> TrustCreditOut:
    """Take one of the offered amounts (full right); once per ``idempotency_key``."""
    taken = selfcare.take_credit(
        c.db, principal.subscriber, msisdn, parse_tenge(body.amount), body.idempotency_key
    )
    return _credit(taken)


@router.post("/subscribers/{msisdn}/transfers/quote", response_model=TransferQuoteOut)
def quote_transfer(
    msisdn: Msisdn, body: TransferQuoteIn, principal: SignedIn, c: ContainerDep
) -> TransferQuoteOut:
    """The fee and what arrives, refused exactly as the transfer would be (full right)."""
    q = selfcare.quote_transfer(
        c.db, principal.subscriber, msisdn, body.recipient, parse_tenge(body.amount)
    )
    return TransferQuoteOut(
        recipient=national10(q.recipient),
        amount_tiyn=q.quote.amount,
        fee_tiyn=q.quote.fee,
        net_tiyn=q.quote.net,
    )


@router.post("/subscribers/{msisdn}/transfers", response_model=TransferOut, status_code=201)
def send_transfer(
    msisdn: Msisdn, body: TransferIn, principal: SignedIn, c: ContainerDep
) -> TransferOut:
    """Send money to another number (full right; needs a fresh SMS confirmation first:
    ``/api/v1/auth/step-up/code``, ``/api/v1/auth/step-up``)."""
    done = selfcare.send_transfer(
        c.db,
        principal.subscriber,
        principal.session,
        auth_policy(c.settings),
        msisdn,
        body.recipient,
        parse_tenge(body.amount),
        body.idempotency_key,
    )
    return TransferOut(
        recipient=national10(done.recipient_msisdn),
        amount_tiyn=done.amount,
        fee_tiyn=done.fee,
        net_tiyn=done.net,
        balance_after_tiyn=done.sender_balance_after,
        created_at=done.created_at,
    )
