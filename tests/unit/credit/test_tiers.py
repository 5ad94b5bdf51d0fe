"""Trust-credit tiers are judged by tenure and by the larger of 30-day top-ups and spend."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from abonent.core.money import tenge
from abonent.credit.domain import CreditRules, CreditStanding, eligible_tiers

RULES = CreditRules()


def standing(*, tenure_days: int, topups: int, spend: int) -> CreditStanding:
    return CreditStanding(
        prepaid=True,
        barred_or_closed=False,
        tenure_days=tenure_days,
        topups_30d_count=1,
        topups_30d_sum=topups,
        balance=0,
        open_debt=None,
        spend_30d=spend,
    )


def amounts(s: CreditStanding) -> list[int]:
    return [t.amount // 100 for t in eligible_tiers(s, RULES)]


def test_steady_spend_from_an_old_top_up_earns_the_tiers_top_ups_would() -> None:
    # 100 ₸ topped up this month but 3,000 ₸ spent on services: judged by the 3,000.
    assert amounts(standing(tenure_days=400, topups=tenge(100), spend=tenge(3000))) == [
        500,
        1000,
        1500,
        2000,
    ]
    assert amounts(standing(tenure_days=400, topups=tenge(100), spend=0)) == [500]
    # Tenure still caps what activity can earn.
    assert amounts(standing(tenure_days=100, topups=0, spend=tenge(9000))) == [500, 1000]


@given(
    tenure=st.integers(60, 2000),
    topups=st.integers(0, tenge(10_000)),
    spend=st.integers(0, tenge(10_000)),
)
def test_tiers_follow_the_larger_of_top_ups_and_spend(tenure: int, topups: int, spend: int) -> None:
    both = amounts(standing(tenure_days=tenure, topups=topups, spend=spend))
    larger = max(topups, spend)
    assert both == amounts(standing(tenure_days=tenure, topups=larger, spend=0))
    assert both == amounts(standing(tenure_days=tenure, topups=0, spend=larger))
