"""Who may see or move what: owners, family numbers and delegates, in one rule.

A *grant* lets a grantee number act on a target number with a right level:
- ``view``: read balance, history, remainders, receipts;
- ``pay``: view, plus top up and pay (cards, transfers from the target's balance excluded);
- ``full``: everything the owner can do, except managing grants and security settings.
A subscriber always has ``owner`` rights on their own number. Family numbers attached to a
cabinet (confirmed by an SMS code from that number) give the cabinet's owner ``full`` on them;
a delegation gives another person's number the chosen right on the delegating number.
A revoked grant gives nothing, at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from abonent.core.errors import Forbidden, ValidationError


class Right(IntEnum):
    VIEW = 1
    PAY = 2
    FULL = 3
    OWNER = 4  # only ever implicit: your own number


class GrantKind(StrEnum):
    FAMILY = "family"  # the grantee (cabinet owner) attached the target number
    DELEGATE = "delegate"  # the target's owner delegated rights to the grantee


def parse_right(text: str) -> Right:
    try:
        right = Right[text.strip().upper()]
    except KeyError:
        raise ValidationError("right must be one of: view, pay, full") from None
    if right is Right.OWNER:
        raise ValidationError("right must be one of: view, pay, full")
    return right


@dataclass(frozen=True, slots=True)
class Grant:
    id: int
    grantee_subscriber_id: int
    target_subscriber_id: int
    target_msisdn: str
    grantee_msisdn: str
    kind: GrantKind
    right: Right
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def effective_right(principal_id: int, target_id: int, grants: list[Grant]) -> Right | None:
    """The strongest right ``principal_id`` holds on ``target_id``, or None."""
    if principal_id == target_id:
        return Right.OWNER
    rights = [
        g.right
        for g in grants
        if g.active
        and g.grantee_subscriber_id == principal_id
        and g.target_subscriber_id == target_id
    ]
    return max(rights) if rights else None


def require_right(held: Right | None, needed: Right) -> None:
    # Deliberately the same answer for "no such number" and "not yours": no probing.
    if held is None or held < needed:
        raise Forbidden("you have no access to this number")
