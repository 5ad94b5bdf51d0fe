"""FastAPI application factory. Routers of features are mounted from ``web.routes_registry``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from abonent import __version__
from abonent.bootstrap import Container
from abonent.core.errors import StorageUnavailable
from abonent.db.uow import STORAGE_ERRORS
from abonent.web.errors import install_error_handlers, problem
from abonent.web.observability import Metrics, MetricsMiddleware, configure_logging

HEALTH_FAILURES: tuple[type[BaseException], ...] = (StorageUnavailable, *STORAGE_ERRORS)


def create_app(container: Container) -> FastAPI:
    configure_logging(container.settings.log_level, container.settings.log_json)
    app = FastAPI(
        title="Abonent",
        version=__version__,
        description="Balances, payments and self-service of a mobile operator.",
    )
    app.state.container = container
    metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)
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

    from abonent.web import routes_registry
    from abonent.web.templating import STATIC_DIR

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    routes_registry.include_routers(app)
    return app


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
