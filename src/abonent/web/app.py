"""FastAPI application factory. Routers of features are mounted from ``web.routes_registry``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Receive, Scope, Send

from abonent import __version__
from abonent.bootstrap import Container
from abonent.core.errors import StorageUnavailable
from abonent.db.uow import STORAGE_ERRORS
from abonent.web.errors import install_error_handlers, problem
from abonent.web.fastpaths import FastPath, FastPaths
from abonent.web.observability import Metrics, MetricsMiddleware, configure_logging

HEALTH_FAILURES: tuple[type[BaseException], ...] = (StorageUnavailable, *STORAGE_ERRORS)


class AbonentApp(FastAPI):
    """FastAPI with the machine endpoints (``web.fastpaths``) in front of everything FastAPI
    itself runs per request (its telemetry check, error and body-limit middlewares): thousands
    of requests a second reach them without going further, and are counted in the request
    metrics there. Every other request goes on through the metrics middleware to FastAPI."""

    def __init__(self, *, metrics: Metrics, fast_paths: Sequence[FastPath], **kwargs: Any):
        super().__init__(**kwargs)
        self.front = FastPaths(
            MetricsMiddleware(super().__call__, metrics), fast_paths, metrics=metrics
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # what FastAPI would set; fast endpoints find the container there
        await self.front(scope, receive, send)


def create_app(container: Container) -> FastAPI:
    configure_logging(container.settings.log_level, container.settings.log_json)
    from abonent.web import routes_registry

    metrics = Metrics()
    app = AbonentApp(
        metrics=metrics,
        fast_paths=routes_registry.fast_paths(),
        title="Abonent",
        version=__version__,
        description="Balances, payments and self-service of a mobile operator.",
    )
    app.state.container = container
    install_error_handlers(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> Response:
        """Liveness and database reachability."""
        try:
            # A read-only unit of work: on SQLite it must not take the write lock.
            with container.db.reading() as uow:
                uow.connection.execute(sa.text("SELECT 1"))
        except HEALTH_FAILURES:
            return problem(503, "storage_unavailable", "the database is unavailable")
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    from fastapi.staticfiles import StaticFiles

    from abonent.web.templating import STATIC_DIR

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    routes_registry.include_routers(app)
    return app


def app_from_environment() -> FastAPI:
    """The app for ``abonent serve --workers N``: every worker process builds its own
    container (engine, caches) from the environment's settings."""
    from abonent.bootstrap import build

    return create_app(build())


def container_of(request: Request) -> Container:
    """The container the app was built with; handlers get it through a dependency."""
    container: Container = request.app.state.container
    return container


def http_routes(app: FastAPI) -> list[Any]:
    """Every route object with methods the app serves, through included routers too."""
    found: list[Any] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            nested = getattr(route, "original_router", None) or getattr(route, "router", None)
            if nested is not None and hasattr(nested, "routes") and not hasattr(route, "methods"):
                walk(list(nested.routes))
            elif isinstance(getattr(route, "methods", None), set | frozenset):
                found.append(route)

    walk(list(app.routes))
    return found
