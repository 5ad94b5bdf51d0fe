"""Feature routers mounted on the app; add a line when a feature gets HTTP routes."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    del app  # no feature routes yet beyond the shell's own
