"""``GET|POST /agents/{code}``: the agent endpoint, answering in the agent's own dialect.

Every answer is HTTP 200 with the dialect's content type, whatever happens: bad input, wrong
credentials, a database outage (a retryable code) or a bug (logged, answered as retryable: no
unit of work commits half a payment). The endpoint is the plain ASGI app of ``asgi.py``; it is
mounted here as an ordinary route and served ahead of the router by ``web.fastpaths``.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import Route

from abonent.agents.asgi import agent_app

router = APIRouter(tags=["agents"])
router.routes.append(
    Route("/agents/{code}", agent_app, methods=["GET", "POST"], include_in_schema=False)
)
