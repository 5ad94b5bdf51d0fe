"""JSON API of auto top-up rules for the signed-in subscriber (the rule owner)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from abonent.autopay import services
from abonent.autopay.domain import Period, Rule, RuleKind, RuleSpec, RuleStatus
from abonent.bootstrap import Container
from abonent.core.money import format_tenge, parse_tenge
from abonent.web.app import container_of
from abonent.web.security import SignedIn

router = APIRouter(prefix="/api/v1/autopay", tags=["autopay"])
ContainerDep = Annotated[Container, Depends(container_of)]
DbId = Annotated[int, Path(ge=1, le=2**62)]


class RuleIn(BaseModel):
    kind: Literal["threshold", "schedule", "renewal"]
    target: str = Field(max_length=32, examples=["7071234567"])
    card_id: int
    amount: str | None = Field(default=None, max_length=20, examples=["2000.00"])
    threshold: str | None = Field(default=None, max_length=20, examples=["100.00"])
    period: Literal["daily", "weekly", "monthly"] | None = None
    day: int | None = Field(default=None, ge=1, le=31)


class RuleChange(BaseModel):
    amount: str | None = Field(default=None, max_length=20)
    threshold: str | None = Field(default=None, max_length=20)
    period: Literal["daily", "weekly", "monthly"] | None = None
    day: int | None = Field(default=None, ge=1, le=31)
    card_id: int | None = None
    status: Literal["active", "paused"] | None = None


class RuleOut(BaseModel):
    id: int
    kind: str
    target: str
    card_id: int | None
    amount: str | None
    threshold: str | None
    period: str | None
    day: int | None
    next_run_at: str | None
    status: str


def rule_out(rule: Rule) -> RuleOut:
    return RuleOut(
        id=rule.id,
        kind=rule.kind.value,
        target=rule.target_msisdn,
        card_id=rule.card_id,
        amount=None if rule.amount is None else format_tenge(rule.amount),
        threshold=None if rule.threshold is None else format_tenge(rule.threshold),
        period=rule.period.value if rule.period else None,
        day=rule.day,
        next_run_at=rule.next_run_at.isoformat() if rule.next_run_at else None,
        status=rule.status.value,
    )


def _money(text: str | None, field: str) -> int | None:
    return None if text is None else parse_tenge(text, field=field)


@router.get("/rules", response_model=list[RuleOut])
def list_rules(principal: SignedIn, c: ContainerDep) -> list[RuleOut]:
    return [rule_out(r) for r in services.list_rules(c.db, principal.subscriber.msisdn)]


@router.post("/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, principal: SignedIn, c: ContainerDep) -> RuleOut:
    spec = RuleSpec(
        RuleKind(body.kind),
        amount=_money(body.amount, "amount"),
        threshold=_money(body.threshold, "threshold"),
        period=Period(body.period) if body.period else None,
        day=body.day,
    )
    rule = services.create_rule(
        c.db,
        owner_msisdn=principal.subscriber.msisdn,
        target_msisdn=body.target,
        card_id=body.card_id,
        spec=spec,
        channel="api",
    )
    return rule_out(rule)


@router.patch("/rules/{rule_id}", response_model=RuleOut)
def change_rule(rule_id: DbId, body: RuleChange, principal: SignedIn, c: ContainerDep) -> RuleOut:
    owner = principal.subscriber.msisdn
    spec = None
    if any(v is not None for v in (body.amount, body.threshold, body.period, body.day)):
        current = next((r for r in services.list_rules(c.db, owner) if r.id == rule_id), None)
        if current is not None:
            spec = RuleSpec(
                current.kind,
                amount=_money(body.amount, "amount") if body.amount else current.amount,
                threshold=(
                    _money(body.threshold, "threshold") if body.threshold else current.threshold
                ),
                period=Period(body.period) if body.period else current.period,
                day=body.day if body.day is not None else current.day,
            )
    rule = services.update_rule(
        c.db,
        owner_msisdn=owner,
        rule_id=rule_id,
        spec=spec,
        card_id=body.card_id,
        status=RuleStatus(body.status) if body.status else None,
    )
    return rule_out(rule)


@router.delete("/rules/{rule_id}", response_model=RuleOut)
def delete_rule(rule_id: DbId, principal: SignedIn, c: ContainerDep) -> RuleOut:
    rule = services.delete_rule(c.db, owner_msisdn=principal.subscriber.msisdn, rule_id=rule_id)
    return rule_out(rule)
