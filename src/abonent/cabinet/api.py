"""The mobile app's JSON API for the cabinet. Bearer tokens (``/api/v1/auth/login``) or the
cabinet's cookie session; every route with a number in it authorises through
``access.authorize``: no data of another number is read or changed without a grant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from abonent.bootstrap import Container
from abonent.cabinet import services
from abonent.cabinet.domain import Grant, parse_right
from abonent.core.money import format_tenge
from abonent.core.msisdn import national10
from abonent.web.app import container_of
from abonent.web.security import SignedIn, auth_policy, client_of

router = APIRouter(prefix="/api/v1", tags=["cabinet"])
ContainerDep = Annotated[Container, Depends(container_of)]
MsisdnPath = Annotated[str, Field(max_length=32, examples=["7071234567"])]


class NumberInfo(BaseModel):
    msisdn: str = Field(examples=["7071234567"])
    relation: str = Field(examples=["own"])


class Me(BaseModel):
    msisdn: str
    name: str
    language: str
    email: str | None
    numbers: list[NumberInfo]


class SubscriberInfo(BaseModel):
    msisdn: str = Field(examples=["7071234567"])
    name: str
    status: str = Field(examples=["active"])
    brand: str
    payment_type: str
    balance_tiyn: int = Field(examples=[150000])
    balance: str = Field(examples=["1500.00"])
    right: str = Field(examples=["owner"])


class HistoryItem(BaseModel):
    id: int
    at: datetime
    kind: str
    description: str
    amount_tiyn: int
    amount: str
    receipt_number: str | None
    receipt_url: str | None = Field(
        default=None, description="the receipt's share link (add .pdf for the PDF)"
    )


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page")


class SpendingMonth(BaseModel):
    month: str = Field(examples=["2026-01"])
    categories: dict[str, int]
    total_tiyn: int


class GrantInfo(BaseModel):
    id: int
    kind: Literal["family", "delegate"]
    right: Literal["view", "pay", "full"]
    grantee: str
    target: str
    created_at: datetime


class GrantsView(BaseModel):
    held: list[GrantInfo]
    given: list[GrantInfo]


class AttachCode(BaseModel):
    msisdn: str = Field(max_length=32)


class AttachConfirm(BaseModel):
    msisdn: str = Field(max_length=32)
    code: str = Field(max_length=12)


class DelegateRequest(BaseModel):
    msisdn: str = Field(max_length=32)
    right: Literal["view", "pay", "full"]


class ProfileUpdate(BaseModel):
    email: str | None = Field(default=None, max_length=320)
    language: Literal["ru", "kk", "en"] | None = None


class SupportMessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class SupportMessageOut(BaseModel):
    id: int
    author: str
    text: str
    created_at: datetime


class Notification(BaseModel):
    at: datetime
    channel: str
    text: str
    status: str


class Done(BaseModel):
    status: str


def _grant(g: Grant) -> GrantInfo:
    return GrantInfo(
        id=g.id,
        kind=g.kind.value,
        right=g.right.name.lower(),
        grantee=national10(g.grantee_msisdn),
        target=national10(g.target_msisdn),
        created_at=g.created_at,
    )


@router.get("/me", response_model=Me)
def me(principal: SignedIn, c: ContainerDep) -> Me:
    with c.db.reading() as uow:
        numbers = services.reachable_numbers(uow, principal.subscriber)
    s = principal.subscriber
    return Me(
        msisdn=national10(s.msisdn),
        name=s.name,
        language=s.language.value,
        email=s.email,
        numbers=[NumberInfo(msisdn=national10(n), relation=r) for n, r in numbers],
    )


@router.patch("/me", response_model=Me)
def update_me(body: ProfileUpdate, principal: SignedIn, c: ContainerDep) -> Me:
    services.update_profile(c.db, principal.subscriber, email=body.email, language=body.language)
    return me(principal, c)


@router.get("/subscribers/{msisdn}", response_model=SubscriberInfo)
def subscriber(msisdn: MsisdnPath, principal: SignedIn, c: ContainerDep) -> SubscriberInfo:
    view = services.dashboard(c.db, principal.subscriber, msisdn, months=1)
    s = view.subscriber
    return SubscriberInfo(
        msisdn=national10(s.msisdn),
        name=s.name,
        status=s.status.value,
        brand=s.brand,
        payment_type=s.payment_type.value,
        balance_tiyn=view.balance,
        balance=format_tenge(view.balance),
        right=view.right.name.lower(),
    )


@router.get("/subscribers/{msisdn}/history", response_model=HistoryPage)
def history(
    msisdn: MsisdnPath,
    principal: SignedIn,
    c: ContainerDep,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    direction: Annotated[Literal["in", "out"] | None, Query()] = None,
) -> HistoryPage:
    lines = services.history(
        c.db, principal.subscriber, msisdn, before=before, limit=limit, direction=direction
    )
    receipts = services.receipt_links(c.db, principal.subscriber, msisdn, lines)
    return HistoryPage(
        items=[
            HistoryItem(
                id=line.posting_id,
                at=line.at,
                kind=line.kind,
                description=line.reference,
                amount_tiyn=line.amount,
                amount=format_tenge(line.amount),
                receipt_number=line.receipt_number,
                receipt_url=f"/r/{receipts[line.receipt_number]}"
                if line.receipt_number in receipts
                else None,
            )
            for line in lines
        ],
        next_before=lines[-1].posting_id if len(lines) == limit else None,
    )


@router.get("/subscribers/{msisdn}/spending", response_model=list[SpendingMonth])
def spending(
    msisdn: MsisdnPath,
    principal: SignedIn,
    c: ContainerDep,
    months: Annotated[int, Query(ge=1, le=24)] = 6,
) -> list[SpendingMonth]:
    view = services.dashboard(c.db, principal.subscriber, msisdn, months=months)
    return [
        SpendingMonth(month=m, categories=cats, total_tiyn=sum(cats.values()))
        for m, cats in view.spending.items()
    ]


@router.post("/subscribers/{msisdn}/suspend", response_model=SubscriberInfo)
def suspend(msisdn: MsisdnPath, principal: SignedIn, c: ContainerDep) -> SubscriberInfo:
    services.set_suspended(c.db, principal.subscriber, msisdn, True)
    return subscriber(msisdn, principal, c)


@router.post("/subscribers/{msisdn}/resume", response_model=SubscriberInfo)
def resume(msisdn: MsisdnPath, principal: SignedIn, c: ContainerDep) -> SubscriberInfo:
    services.set_suspended(c.db, principal.subscriber, msisdn, False)
    return subscriber(msisdn, principal, c)


@router.get("/grants", response_model=GrantsView)
def grants(principal: SignedIn, c: ContainerDep) -> GrantsView:
    held, given = services.grants_view(c.db, principal.subscriber)
    return GrantsView(held=[_grant(g) for g in held], given=[_grant(g) for g in given])


@router.post("/grants/family/code", response_model=Done, status_code=202)
def family_code(body: AttachCode, principal: SignedIn, request: Request, c: ContainerDep) -> Done:
    services.start_attach(
        c.db,
        c.settings.secret_key,
        principal.subscriber,
        body.msisdn,
        client_of(request, c.settings),
        auth_policy(c.settings),
    )
    return Done(status="sent")


@router.post("/grants/family", response_model=GrantInfo, status_code=201)
def family_attach(body: AttachConfirm, principal: SignedIn, c: ContainerDep) -> GrantInfo:
    return _grant(
        services.confirm_attach(
            c.db,
            c.settings.secret_key,
            principal.subscriber,
            body.msisdn,
            body.code,
            auth_policy(c.settings),
        )
    )


@router.post("/grants/delegates", response_model=GrantInfo, status_code=201)
def delegate(body: DelegateRequest, principal: SignedIn, c: ContainerDep) -> GrantInfo:
    """Needs a fresh SMS confirmation first (``/api/v1/auth/step-up/code``, ``/step-up``)."""
    return _grant(
        services.delegate(
            c.db,
            principal.subscriber,
            principal.session,
            body.msisdn,
            parse_right(body.right),
            auth_policy(c.settings),
        )
    )


@router.delete("/grants/{grant_id}", response_model=Done)
def revoke(
    grant_id: Annotated[int, Path(ge=1, le=2**62)], principal: SignedIn, c: ContainerDep
) -> Done:
    services.revoke(c.db, principal.subscriber, grant_id)
    return Done(status="revoked")


@router.get("/support/messages", response_model=list[SupportMessageOut])
def support_messages(principal: SignedIn, c: ContainerDep) -> list[SupportMessageOut]:
    return [
        SupportMessageOut(
            id=m.id,
            author="support" if m.author != "subscriber" else "subscriber",
            text=m.text,
            created_at=m.created_at,
        )
        for m in services.support_thread(c.db, principal.subscriber)
    ]


@router.post("/support/messages", response_model=SupportMessageOut, status_code=201)
def support_post(body: SupportMessageIn, principal: SignedIn, c: ContainerDep) -> SupportMessageOut:
    m = services.post_support_message(c.db, principal.subscriber, body.text)
    return SupportMessageOut(id=m.id, author="subscriber", text=m.text, created_at=m.created_at)


@router.get("/notifications", response_model=list[Notification])
def notifications(principal: SignedIn, c: ContainerDep) -> list[Notification]:
    return [Notification(**n) for n in services.notifications(c.db, principal.subscriber)]
