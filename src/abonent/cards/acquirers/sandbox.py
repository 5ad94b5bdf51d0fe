"""The built-in sandbox acquirer: a card processor you can run anywhere, with test cards.

It stands for an external system: it keeps its own records (tables ``sandbox_acquirer_*``, no
card numbers: a test card number only chooses a scenario, then only its last four digits, brand
and expiry are kept) in its own transactions, never inside one of ours. Test cards (any future
expiry, any 3-digit CVV):

    4111 1111 1111 1111  approve              5555 5555 5555 4444  approve (Mastercard)
    4000 0000 0000 0002  decline              4000 0000 0000 3220  3-D Secure on the first charge
    4000 0000 0000 0119  5xx (nothing charged)
    4000 0000 0000 0077  times out AFTER charging   4000 0000 0000 0069  times out BEFORE charging

Tests may also ``script`` the next outcomes of a card. Every final outcome produces a signed
notification (``notifications``), as a real acquirer's webhook would; ``deliver`` pushes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import select

from abonent.cards.acquirer import (
    AcquirerTimeout,
    AcquirerUnavailable,
    ChargeResult,
    ChargeStatus,
    OperationInfo,
    OperationState,
    TokenizationStart,
    TokenizedCard,
)
from abonent.cards.domain import (
    CardLinkNotReady,
    card_brand,
    check_cvv,
    normalise_pan,
    parse_expiry,
)
from abonent.cards.tables import (
    sandbox_acquirer_cards,
    sandbox_acquirer_operations,
    sandbox_acquirer_sessions,
)
from abonent.core.errors import NotFound
from abonent.core.ids import public_token
from abonent.core.money import Tiyn
from abonent.db.uow import Database

APPROVE = "approve"
DECLINE = "decline"
THREE_DS = "3ds"
SERVER_ERROR = "5xx"
TIMEOUT_AFTER = "timeout_after"
TIMEOUT_BEFORE = "timeout_before"
OUTCOMES = (APPROVE, DECLINE, THREE_DS, SERVER_ERROR, TIMEOUT_AFTER, TIMEOUT_BEFORE)

TEST_CARDS: dict[str, str] = {
    "4111111111111111": APPROVE,
    "5555555555554444": APPROVE,
    "4000000000000002": DECLINE,
    "4000000000003220": THREE_DS,
    "4000000000000119": SERVER_ERROR,
    "4000000000000077": TIMEOUT_AFTER,
    "4000000000000069": TIMEOUT_BEFORE,
}


@dataclass(frozen=True, slots=True)
class SignedNotification:
    """A webhook as the acquirer would POST it: a JSON body and its HMAC signature."""

    body: bytes
    signature: str

    @property
    def payload(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.body)
        return data


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class SandboxAcquirer:
    name = "sandbox"

    def __init__(
        self,
        db: Database,
        *,
        callback_secret: str,
        base_path: str = "/sandbox-acquirer",
        deliver: Callable[[SignedNotification], None] | None = None,
    ) -> None:
        self.db = db
        self.callback_secret = callback_secret
        self.base_path = base_path
        self.deliver = deliver
        self.notifications: list[SignedNotification] = []
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()

    # -- test controls --------------------------------------------------------------------
    def script(self, token: str, outcomes: Iterable[str]) -> None:
        """The next charges of ``token`` answer these outcomes, in order, then its default."""
        with self._lock:
            for outcome in outcomes:
                if outcome not in OUTCOMES:
                    raise ValueError(f"unknown sandbox outcome {outcome!r}")
                self._scripts[token].append(outcome)

    def captured_count(self, operation_id: str) -> int:
        with self.db.reading() as uow:
            state = uow.connection.execute(
                select(sandbox_acquirer_operations.c.state).where(
                    sandbox_acquirer_operations.c.operation_id == operation_id
                )
            ).scalar()
        return 1 if state == OperationState.CAPTURED.value else 0

    # -- the card-entry page (served by cards.pages under ``base_path``) --------------------
    def start_tokenization(self, session_id: str, return_url: str) -> TokenizationStart:
        with self.db.uow() as uow:
            uow.connection.execute(
                sandbox_acquirer_sessions.insert(),
                {
                    "session_id": session_id,
                    "return_url": return_url,
                    "token": None,
                    "created_at": uow.clock.now(),
                },
            )
            uow.commit()
        return TokenizationStart(session_id, f"{self.base_path}/cards/{session_id}")

    def session_exists(self, session_id: str) -> bool:
        with self.db.reading() as uow:
            return self._session(uow.connection, session_id) is not None

    def submit_card(self, session_id: str, *, pan: str, expiry: str, cvv: str) -> str:
        """The cardholder typed a card on the sandbox page; returns where to send the browser.

        The number and CVV are checked and dropped: only the scenario they select is kept.
        """
        digits = normalise_pan(pan)
        check_cvv(cvv)
        with self.db.uow() as uow:
            session = self._session(uow.connection, session_id)
            if session is None:
                raise NotFound("no such card-entry session")
            if session.token is not None:
                return str(session.return_url)
            month, year = parse_expiry(expiry, uow.clock.now())
            token = "sbx_" + public_token(24)
            uow.connection.execute(
                sandbox_acquirer_cards.insert(),
                {
                    "token": token,
                    "last4": digits[-4:],
                    "brand": card_brand(digits),
                    "exp_month": month,
                    "exp_year": year,
                    "scenario": TEST_CARDS.get(digits, APPROVE),
                    "three_ds_done": False,
                    "created_at": uow.clock.now(),
                },
            )
            uow.connection.execute(
                sandbox_acquirer_sessions.update()
                .where(sandbox_acquirer_sessions.c.session_id == session_id)
                .values(token=token)
            )
            uow.commit()
        return str(session.return_url)

    def tokenization_result(self, session_id: str) -> TokenizedCard | None:
        with self.db.reading() as uow:
            session = self._session(uow.connection, session_id)
            if session is None:
                raise CardLinkNotReady("the acquirer does not know this card-entry session")
            if session.token is None:
                return None
            card = self._card(uow.connection, session.token)
        assert card is not None
        return TokenizedCard(
            token=card.token,
            last4=card.last4,
            brand=card.brand,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )

    # -- payments -------------------------------------------------------------------------
    def charge(
        self, *, token: str, amount: Tiyn, operation_id: str, description: str, customer: bool
    ) -> ChargeResult:
        del description
        existing = self._operation(operation_id)
        if existing is not None:
            return _result_of(existing, self.base_path)
        with self.db.reading() as uow:
            card = self._card(uow.connection, token)
        if card is None:
            return ChargeResult(ChargeStatus.DECLINED, reason="unknown card token")
        outcome = self._next_outcome(token, card.scenario)
        if outcome == THREE_DS and card.three_ds_done:
            outcome = APPROVE
        if outcome == SERVER_ERROR:
            raise AcquirerUnavailable("sandbox acquirer answered 500")
        if outcome == TIMEOUT_BEFORE:
            raise AcquirerTimeout("sandbox acquirer did not answer")
        if outcome == THREE_DS and not customer:
            outcome = DECLINE  # a merchant-initiated charge cannot ask the cardholder
        state = {
            APPROVE: OperationState.CAPTURED,
            TIMEOUT_AFTER: OperationState.CAPTURED,
            DECLINE: OperationState.DECLINED,
            THREE_DS: OperationState.PENDING,
        }[outcome]
        row = self._insert_operation(operation_id, token, amount, state)
        if row.state != state.value:  # a concurrent twin got there first
            return _result_of(row, self.base_path)
        if state is not OperationState.PENDING:
            self._notify(row)
        if outcome == TIMEOUT_AFTER:
            raise AcquirerTimeout("sandbox acquirer charged, then the answer was lost")
        return _result_of(row, self.base_path)

    def confirm_3ds(self, *, acquirer_txn_id: str, pa_res: str) -> ChargeResult:
        with self.db.uow() as uow:
            row = uow.connection.execute(
                select(sandbox_acquirer_operations)
                .where(sandbox_acquirer_operations.c.txn_id == acquirer_txn_id)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFound("the acquirer does not know this transaction")
            if row.state == OperationState.PENDING.value:
                state = OperationState.CAPTURED if pa_res == "Y" else OperationState.DECLINED
                uow.connection.execute(
                    sandbox_acquirer_operations.update()
                    .where(sandbox_acquirer_operations.c.txn_id == acquirer_txn_id)
                    .values(state=state.value)
                )
                if state is OperationState.CAPTURED:
                    uow.connection.execute(
                        sandbox_acquirer_cards.update()
                        .where(sandbox_acquirer_cards.c.token == row.token)
                        .values(three_ds_done=True)
                    )
                uow.commit()
        updated = self._operation(str(row.operation_id))
        assert updated is not None
        if updated.state != row.state:
            self._notify(updated)
        return _result_of(updated, self.base_path)

    def query(self, operation_id: str) -> OperationInfo:
        row = self._operation(operation_id)
        if row is None:
            return OperationInfo(OperationState.NOT_FOUND)
        return OperationInfo(OperationState(row.state), str(row.txn_id), int(row.amount))

    def refund(self, *, acquirer_txn_id: str, amount: Tiyn, operation_id: str) -> OperationInfo:
        del operation_id
        with self.db.uow() as uow:
            row = uow.connection.execute(
                select(sandbox_acquirer_operations)
                .where(sandbox_acquirer_operations.c.txn_id == acquirer_txn_id)
                .with_for_update()
            ).first()
            if row is None or row.state not in ("captured", "refunded") or amount != row.amount:
                raise NotFound("nothing captured to refund with this transaction and amount")
            uow.connection.execute(
                sandbox_acquirer_operations.update()
                .where(sandbox_acquirer_operations.c.txn_id == acquirer_txn_id)
                .values(state=OperationState.REFUNDED.value)
            )
            uow.commit()
        return OperationInfo(OperationState.REFUNDED, acquirer_txn_id, amount)

    # -- internals ------------------------------------------------------------------------
    def _next_outcome(self, token: str, default: str) -> str:
        with self._lock:
            queue = self._scripts.get(token)
            return queue.popleft() if queue else default

    def _session(self, conn: sa.Connection, session_id: str) -> sa.Row[tuple[object, ...]] | None:
        return conn.execute(
            select(sandbox_acquirer_sessions).where(
                sandbox_acquirer_sessions.c.session_id == session_id
            )
        ).first()

    def _card(self, conn: sa.Connection, token: str) -> sa.Row[tuple[object, ...]] | None:
        return conn.execute(
            select(sandbox_acquirer_cards).where(sandbox_acquirer_cards.c.token == token)
        ).first()

    def _operation(self, operation_id: str) -> sa.Row[tuple[object, ...]] | None:
        with self.db.reading() as uow:
            return uow.connection.execute(
                select(sandbox_acquirer_operations).where(
                    sandbox_acquirer_operations.c.operation_id == operation_id
                )
            ).first()

    def _insert_operation(
        self, operation_id: str, token: str, amount: Tiyn, state: OperationState
    ) -> sa.Row[tuple[object, ...]]:
        try:
            with self.db.uow() as uow:
                uow.connection.execute(
                    sandbox_acquirer_operations.insert(),
                    {
                        "operation_id": operation_id,
                        "txn_id": "sbx" + public_token(12),
                        "token": token,
                        "amount": amount,
                        "state": state.value,
                        "created_at": uow.clock.now(),
                    },
                )
                uow.commit()
        except sa.exc.IntegrityError:
            pass
        row = self._operation(operation_id)
        assert row is not None
        return row

    def _notify(self, row: sa.Row[tuple[object, ...]]) -> None:
        body = json.dumps(
            {
                "operation_id": row.operation_id,
                "txn_id": row.txn_id,
                "state": row.state,
                "amount": row.amount,
            },
            sort_keys=True,
        ).encode()
        notification = SignedNotification(body, sign(body, self.callback_secret))
        with self._lock:
            self.notifications.append(notification)
        if self.deliver is not None:
            self.deliver(notification)


def _result_of(row: sa.Row[tuple[object, ...]], base_path: str) -> ChargeResult:
    state = OperationState(row.state)
    txn = str(row.txn_id)
    if state in (OperationState.CAPTURED, OperationState.REFUNDED):
        return ChargeResult(ChargeStatus.APPROVED, txn)
    if state is OperationState.PENDING:
        return ChargeResult(ChargeStatus.REQUIRES_3DS, txn, acs_url=f"{base_path}/3ds/{txn}")
    return ChargeResult(ChargeStatus.DECLINED, txn, reason="declined by the issuer")
