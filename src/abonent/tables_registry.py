"""Imports every feature's ``tables`` module; add a line here when a feature gets tables."""

from abonent.audit import tables as audit_tables  # noqa: F401
from abonent.ledger import tables as ledger_tables  # noqa: F401
from abonent.outbox import tables as outbox_tables  # noqa: F401
from abonent.payments import tables as payment_tables  # noqa: F401
from abonent.subscribers import tables as subscriber_tables  # noqa: F401
