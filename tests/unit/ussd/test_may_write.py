"""Which steps may write: the event loop runs the others without a worker thread."""

from __future__ import annotations

import pytest

from abonent.ussd.engine import Confirm, Msg, Service, may_write
from abonent.ussd.menus import (
    AUTOPAY_FRIEND,
    BALANCE,
    CALL_ME,
    COLLECT_ANSWER,
    TRANSFER,
    TRUST_CREDIT,
    VOUCHER,
)


@pytest.mark.parametrize(
    ("service", "inputs", "writes"),
    [
        (BALANCE, [], False),
        (BALANCE, ["1"], False),  # the tariff screen only reads
        (BALANCE, ["2", "9"], False),
        (TRANSFER, [], False),  # the quote
        (TRANSFER, ["2"], False),  # a cancel before any action
        (TRANSFER, ["1"], True),
        (TRANSFER, ["3"], True),  # a bad answer is refused by run, but it is past the steps
        (TRUST_CREDIT, [], False),
        (TRUST_CREDIT, ["1"], False),
        (TRUST_CREDIT, ["1", "2"], True),
        (CALL_ME, [], True),  # no steps: the first request acts
        (VOUCHER, [], True),
        (AUTOPAY_FRIEND, [], False),
        (AUTOPAY_FRIEND, ["7071234568"], True),
        (COLLECT_ANSWER, [], False),
        (COLLECT_ANSWER, ["2"], True),  # declining writes through the cancel handler
        (COLLECT_ANSWER, ["1"], True),
    ],
)
def test_only_actions_and_cancel_handlers_may_write(
    service: Service, inputs: list[str], writes: bool
) -> None:
    assert may_write(service, inputs) is writes


def test_a_cancel_handler_on_an_earlier_step_counts_once_that_step_is_answered() -> None:
    service = Service(
        name="two",
        code=("999",),
        steps=(
            Confirm(lambda c: Msg("first"), on_cancel=lambda c: Msg("declined")),
            Confirm(lambda c: Msg("second")),
        ),
        action=lambda c: Msg("done"),
        action_reads_only=True,
    )
    assert not may_write(service, [])
    assert may_write(service, ["2"])
    assert may_write(service, ["1"])  # only run knows the answer takes no cancel path
    assert may_write(service, ["1", "1"])
