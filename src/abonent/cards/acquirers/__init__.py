"""Acquirer adapters and the one function that picks which one a container uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from abonent.db.uow import Database

if TYPE_CHECKING:
    from abonent.bootstrap import Container
    from abonent.cards.acquirer import Acquirer

_EXTRA_KEY = "cards.acquirer"


def acquirer_for(container: Container) -> Acquirer:
    """The container's acquirer, built once from ``CardSettings`` (sandbox by default)."""
    existing = container.extras.get(_EXTRA_KEY)
    if existing is not None:
        return existing  # type: ignore[return-value]
    from abonent.cards.settings import CardSettings

    settings = CardSettings()
    acquirer: Acquirer
    if settings.acquirer == "cloudpayments":
        from abonent.cards.acquirers.cloudpayments import CloudPaymentsAcquirer

        acquirer = CloudPaymentsAcquirer.from_settings(settings)
    else:
        from abonent.cards.acquirers.sandbox import SandboxAcquirer

        acquirer = SandboxAcquirer(container.db, callback_secret=settings.callback_secret)
    container.extras[_EXTRA_KEY] = acquirer
    return acquirer


def set_acquirer(container: Container, acquirer: Acquirer) -> None:
    """Tests and embedding code inject their own acquirer."""
    container.extras[_EXTRA_KEY] = acquirer


def resolve(container_or_db: Any, acquirer: Acquirer | None) -> tuple[Database, Acquirer]:
    """Jobs accept a ``Container`` or a bare ``Database`` (then the sandbox acquirer)."""
    if isinstance(container_or_db, Database):
        if acquirer is None:
            from abonent.cards.acquirers.sandbox import SandboxAcquirer
            from abonent.cards.settings import CardSettings

            acquirer = SandboxAcquirer(
                container_or_db, callback_secret=CardSettings().callback_secret
            )
        return container_or_db, acquirer
    return container_or_db.db, acquirer or acquirer_for(container_or_db)
