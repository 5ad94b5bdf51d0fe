"""Feature routers mounted on the app; add a line (import + include) per feature router."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    from abonent.auth.api import router as auth_api

    app.include_router(auth_api)
