"""Imports every feature module that registers top-up hooks (see ``payments.hooks``).

``bootstrap.build`` imports this, so hooks are in place before any top-up runs.
Add a line when a feature registers a hook.
"""

from abonent.autopay import hooks as autopay_hooks  # noqa: F401  (threshold trigger, card events)
from abonent.bills import services as bills_services  # noqa: F401  (allocate, unbar)
from abonent.charging import services as charging_services  # noqa: F401  (renewal retry)
from abonent.credit import services as credit_services  # noqa: F401  (trust credit repayment)
from abonent.receipts import services as receipts_services  # noqa: F401  (sale receipt)
