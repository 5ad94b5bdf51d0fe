"""Imports every feature's ``tables`` module; add a line here when a feature gets tables."""

from abonent.agents import tables as agent_tables  # noqa: F401
from abonent.audit import tables as audit_tables  # noqa: F401
from abonent.auth import tables as auth_tables  # noqa: F401
from abonent.autopay import tables as autopay_tables  # noqa: F401
from abonent.bills import tables as bill_tables  # noqa: F401
from abonent.cabinet import tables as cabinet_tables  # noqa: F401
from abonent.cards import tables as card_tables  # noqa: F401
from abonent.cashdesk import tables as cashdesk_tables  # noqa: F401
from abonent.catalog import tables as catalog_tables  # noqa: F401
from abonent.charging import tables as charging_tables  # noqa: F401
from abonent.credit import tables as credit_tables  # noqa: F401
from abonent.ledger import tables as ledger_tables  # noqa: F401
from abonent.messaging import tables as messaging_tables  # noqa: F401
from abonent.outbox import tables as outbox_tables  # noqa: F401
from abonent.payments import tables as payment_tables  # noqa: F401
from abonent.receipts import tables as receipt_tables  # noqa: F401
from abonent.sms import tables as sms_tables  # noqa: F401
from abonent.statements import tables as statement_tables  # noqa: F401
from abonent.subscribers import tables as subscriber_tables  # noqa: F401
from abonent.transfers import tables as transfer_tables  # noqa: F401
from abonent.vouchers import tables as voucher_tables  # noqa: F401
