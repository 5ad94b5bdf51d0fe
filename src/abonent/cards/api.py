"""JSON API of cards for the signed-in subscriber (the cabinet's bearer token or session cookie
with CSRF): list, link, remove cards, top up by card, follow a card payment. The card owner is
always the signed-in number; a top-up may go to any of our numbers (own or a friend's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from abonent.auth import services as auth_services
from abonent.bootstrap import Container
from abonent.cards import services
from abonent.cards.acquirers import acquirer_for
from abonent.cards.domain import Card, CardPayment
from abonent.core.errors import NotFound
from abonent.core.money import format_tenge, parse_tenge
from abonent.web.app import container_of
from abonent.web.security import SignedIn, auth_policy

router = APIRouter(prefix="/api/v1/cards", tags=["cards"])
ContainerDep = Annotated[Container, Depends(container_of)]
# Database ids are positive 63-bit integers; anything else is a 422, never a storage error.
DbId = Annotated[int, Path(ge=1, le=2**62)]


class CardOut(BaseModel):
    id: int
    card: str
    brand: str
    last4: str
    expiry: str


class LinkStarted(BaseModel):
    session_id: str
    redirect_url: str


class TopUpIn(BaseModel):
    target: str = Field(max_length=32, examples=["7071234567"])
    amount: str = Field(max_length=20, examples=["2000.00"], description="tenge")
    idempotency_key: str = Field(min_length=1, max_length=100)


class CardPaymentOut(BaseModel):
    operation_id: str
    status: str
    amount: str
    target: str
    credited: bool
    acs_url: str | None
    reason: str


def card_out(card: Card) -> CardOut:
    return CardOut(
        id=card.id,
        card=card.label,
        brand=card.brand,
        last4=card.last4,
        expiry=f"{card.exp_month:02d}/{card.exp_year % 100:02d}",
    )


def payment_out(payment: CardPayment) -> CardPaymentOut:
    return CardPaymentOut(
        operation_id=payment.operation_id,
        status=payment.status.value,
        amount=format_tenge(payment.amount),
        target=payment.target_msisdn,
        credited=payment.credited,
        acs_url=payment.acs_url,
        reason=payment.reason,
    )


@router.get("", response_model=list[CardOut])
def list_cards(principal: SignedIn, c: ContainerDep) -> list[CardOut]:
    return [card_out(card) for card in services.list_cards(c.db, principal.subscriber.msisdn)]


@router.post("/link", response_model=LinkStarted, status_code=201)
def start_link(principal: SignedIn, c: ContainerDep) -> LinkStarted:
    """Open the acquirer's card-entry page; the browser comes back to ``/cards/link/return``.

    A sensitive action: needs a fresh SMS confirmation (``/api/v1/auth/step-up``) first."""
    auth_services.require_step_up(principal.session, c.clock.now(), auth_policy(c.settings))
    session_id, url = services.start_card_link(
        c.db,
        acquirer_for(c),
        owner_msisdn=principal.subscriber.msisdn,
        return_url="/cards/link/return?session={session}",
    )
    return LinkStarted(session_id=session_id, redirect_url=url)


@router.delete("/{card_id}", response_model=CardOut)
def remove_card(card_id: DbId, principal: SignedIn, c: ContainerDep) -> CardOut:
    card = services.remove_card(
        c.db,
        owner_msisdn=principal.subscriber.msisdn,
        card_id=card_id,
        actor=f"subscriber:{principal.subscriber.msisdn}",
    )
    return card_out(card)


@router.post("/{card_id}/topups", response_model=CardPaymentOut)
def top_up(card_id: DbId, body: TopUpIn, principal: SignedIn, c: ContainerDep) -> CardPaymentOut:
    """Charge the card and credit the number once the acquirer captures (``status``:
    captured, declined, pending_3ds with ``acs_url``, or unknown until reconciled)."""
    payment = services.card_topup(
        c.db,
        acquirer_for(c),
        owner_msisdn=principal.subscriber.msisdn,
        card_id=card_id,
        target_msisdn=body.target,
        amount=parse_tenge(body.amount),
        idempotency_key=body.idempotency_key,
    )
    return payment_out(payment)


@router.get("/payments/{operation_id}", response_model=CardPaymentOut)
def card_payment(operation_id: str, principal: SignedIn, c: ContainerDep) -> CardPaymentOut:
    payment = services.get_card_payment(c.db, operation_id[:64])
    if payment.owner_msisdn != principal.subscriber.msisdn:
        raise NotFound("no such card payment")
    return payment_out(payment)
