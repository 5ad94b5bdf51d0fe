"""Domain errors → JSON problems (RFC 9457 shape) with a stable ``code``. Never a traceback."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from abonent.core.errors import AbonentError

log = structlog.get_logger("abonent.web")


def problem(status: int, code: str, title: str, **extra: object) -> JSONResponse:
    body: dict[str, object] = {
        "type": f"urn:abonent:error:{code}",
        "title": title,
        "status": status,
        "code": code,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AbonentError)
    async def _domain(_: Request, exc: AbonentError) -> JSONResponse:
        details = {k: v for k, v in exc.details.items() if isinstance(v, str | int | bool)}
        response = problem(exc.http_status, exc.code, exc.message, **details)
        retry_after = exc.details.get("retry_after_seconds")
        if isinstance(retry_after, int):
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(422, "validation_error", "the request is not valid", errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem(500, "internal_error", "something went wrong on our side; try again")
