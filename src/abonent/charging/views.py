"""JSON shapes of charging's read models, shared by the HTTP API and the CLI's ``--json``
(here rather than in ``api``, so a command does not import the web framework to print one)."""

from __future__ import annotations

from typing import Any

from abonent.charging import services
from abonent.core.money import format_tenge


def summary_as_json(s: services.SubscriptionSummary) -> dict[str, Any]:
    return {
        "msisdn": s.msisdn,
        "tariff": s.tariff_code,
        "names": s.names,
        "fee_tiyn": s.fee,
        "fee": format_tenge(s.fee),
        "period": s.period,
        "state": s.state,
        "period_start": s.period_start.isoformat(),
        "period_end": s.period_end.isoformat(),
        "remainders": [
            {
                "kind": r.kind,
                "unit": r.unit,
                "used": r.used,
                "left": r.left,
                "expires_at": r.expires_at.isoformat(),
                "product": r.product_code,
            }
            for r in s.remainders
        ],
        "options": [
            {
                "code": o.code,
                "names": o.names,
                "fee_tiyn": o.fee,
                "state": o.state,
                "period_end": o.period_end.isoformat(),
            }
            for o in s.options
        ],
    }
