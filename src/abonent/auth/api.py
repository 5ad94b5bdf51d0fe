"""JSON API of authentication for the mobile app (bearer tokens tied to server sessions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from abonent.auth import services
from abonent.auth.domain import CodePurpose
from abonent.bootstrap import Container
from abonent.core.errors import ValidationError
from abonent.web.app import container_of
from abonent.web.security import SignedIn, auth_policy, client_of

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
ContainerDep = Annotated[Container, Depends(container_of)]


class CodeRequest(BaseModel):
    msisdn: str = Field(max_length=32, examples=["7071234567"])
    purpose: Literal["login", "reset", "step_up"] = "login"


class LoginRequest(BaseModel):
    msisdn: str = Field(max_length=32, examples=["7071234567"])
    code: str | None = Field(default=None, max_length=12, examples=["123456"])
    password: str | None = Field(default=None, max_length=256)


class TokenResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret
    idle_timeout_seconds: int
    absolute_timeout_seconds: int


class StatusResponse(BaseModel):
    status: str


class SessionInfo(BaseModel):
    current: bool
    created_at: datetime
    last_seen_at: datetime
    ip: str
    user_agent: str
    kind: str


class PasswordChange(BaseModel):
    current_password: str | None = Field(default=None, max_length=256)
    new_password: str = Field(max_length=256)


class PasswordReset(BaseModel):
    msisdn: str = Field(max_length=32)
    code: str = Field(max_length=12)
    new_password: str = Field(max_length=256)


class StepUp(BaseModel):
    code: str = Field(max_length=12)


@router.post("/code", response_model=StatusResponse, status_code=202)
def request_code(body: CodeRequest, request: Request, c: ContainerDep) -> StatusResponse:
    """Send a one-time code by SMS (the same answer whether the number exists or not)."""
    if body.purpose == "step_up":
        raise ValidationError("step-up codes are requested by a signed-in session")
    services.send_code(
        c.db,
        c.settings.secret_key,
        body.msisdn,
        CodePurpose(body.purpose),
        client_of(request, c.settings),
        auth_policy(c.settings),
    )
    return StatusResponse(status="sent")


@router.post("/login", response_model=TokenResponse)
def login(body: LoginRequest, request: Request, c: ContainerDep) -> TokenResponse:
    """Sign in with a one-time code or a password; answers a bearer token."""
    policy = auth_policy(c.settings)
    client = client_of(request, c.settings)
    if body.code:
        issued = services.login_with_code(
            c.db, c.settings.secret_key, body.msisdn, body.code, client, policy, kind="api"
        )
    elif body.password:
        issued = services.login_with_password(
            c.db, body.msisdn, body.password, client, policy, kind="api"
        )
    else:
        raise ValidationError("give a code or a password")
    return TokenResponse(
        token=issued.token,
        idle_timeout_seconds=int(policy.session_idle.total_seconds()),
        absolute_timeout_seconds=int(policy.session_absolute.total_seconds()),
    )


@router.post("/logout", response_model=StatusResponse)
def logout(principal: SignedIn, request: Request, c: ContainerDep) -> StatusResponse:
    header = request.headers.get("authorization", "")
    token = (
        header[7:].strip()
        if header.lower().startswith("bearer ")
        else request.cookies.get("abonent_session", "")
    )
    del principal
    services.logout(c.db, token)
    return StatusResponse(status="signed_out")


@router.get("/sessions", response_model=list[SessionInfo])
def sessions(principal: SignedIn, c: ContainerDep) -> list[SessionInfo]:
    return [
        SessionInfo(
            current=s.id_hash == principal.session.id_hash,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            ip=s.ip,
            user_agent=s.user_agent,
            kind=s.kind,
        )
        for s in services.active_sessions(c.db, principal.session, auth_policy(c.settings))
    ]


@router.post("/sessions/end-others", response_model=StatusResponse)
def end_others(principal: SignedIn, c: ContainerDep) -> StatusResponse:
    ended = services.end_other_sessions(c.db, principal.session)
    return StatusResponse(status=f"ended {ended}")


@router.post("/step-up/code", response_model=StatusResponse, status_code=202)
def step_up_code(principal: SignedIn, request: Request, c: ContainerDep) -> StatusResponse:
    services.send_code(
        c.db,
        c.settings.secret_key,
        principal.subscriber.msisdn,
        CodePurpose.STEP_UP,
        client_of(request, c.settings),
        auth_policy(c.settings),
    )
    return StatusResponse(status="sent")


@router.post("/step-up", response_model=StatusResponse)
def step_up(body: StepUp, principal: SignedIn, c: ContainerDep) -> StatusResponse:
    services.step_up(
        c.db, c.settings.secret_key, principal.session, body.code, auth_policy(c.settings)
    )
    return StatusResponse(status="confirmed")


@router.post("/password", response_model=StatusResponse)
def change_password(body: PasswordChange, principal: SignedIn, c: ContainerDep) -> StatusResponse:
    services.change_password(
        c.db,
        principal.session,
        body.new_password,
        auth_policy(c.settings),
        current_password=body.current_password,
    )
    return StatusResponse(status="changed")


@router.post("/password/reset", response_model=StatusResponse)
def reset_password(body: PasswordReset, c: ContainerDep) -> StatusResponse:
    services.reset_password(
        c.db,
        c.settings.secret_key,
        body.msisdn,
        body.code,
        body.new_password,
        auth_policy(c.settings),
    )
    return StatusResponse(status="changed")
