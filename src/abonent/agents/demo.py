"""Demo agents with known passwords (development only; printed in the agents README)."""

from __future__ import annotations

from abonent.agents import services
from abonent.bootstrap import Container
from abonent.core.money import tenge

DEMO_AGENTS: tuple[services.NewAgent, ...] = (
    services.NewAgent(
        "KASPI", "Kaspi.kz", "kaspi", "kaspi-demo-pass", min_sum=tenge(1), max_sum=tenge(300_000)
    ),
    services.NewAgent(
        "QIWI",
        "QIWI terminals",
        "osmp",
        "qiwi-demo-pass",
        min_sum=tenge(200),
        max_sum=tenge(50_000),
    ),
    services.NewAgent(
        "KASSA24",
        "Kassa24",
        "cyberplat",
        "kassa24-demo-pass",
        min_sum=tenge(200),
        max_sum=tenge(100_000),
    ),
    services.NewAgent(
        "HALYK",
        "Halyk Bank",
        "osmp",
        "halyk-demo-pass",
        allow_ips=("127.0.0.1/32", "::1/128"),
        min_sum=tenge(100),
        max_sum=tenge(500_000),
    ),
)


def load_agents(c: Container) -> list[str]:
    existing = {agent.code for agent, _ in services.list_agents(c.db)}
    added = []
    for new in DEMO_AGENTS:
        if new.code not in existing:
            services.add_agent(c.db, new, actor="demo")
            added.append(f"agent {new.code}")
    return added
