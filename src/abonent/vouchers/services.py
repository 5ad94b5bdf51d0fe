"""Voucher use cases: create, activate and block batches; redeem a code; unlock entry.

Money (see README): activating a batch moves ``count × nominal`` from the voucher receivable
account into the batch's liability account; a redemption moves one nominal from that liability
account to the subscriber through ``payments.credit_topup``; blocking releases the liability of
the vouchers still active. So a batch's liability balance always equals the nominal of its
active vouchers.

The secret key and the wrong-code policy come from ``Settings`` at call time (the key is
never stored; only a short fingerprint of it per batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import structlog
from sqlalchemy import exc as sa_exc

from abonent.core.errors import AbonentError, StorageUnavailable
from abonent.core.money import Tiyn
from abonent.core.msisdn import masked, parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, transfer_request
from abonent.payments.domain import Channel, SubscriberClosed, TopUpRequest
from abonent.payments.services import credit_topup
from abonent.settings import Settings
from abonent.subscribers.domain import SubscriberStatus
from abonent.subscribers.services import system_account
from abonent.vouchers.domain import (
    LEDGER_SOURCE,
    PAYMENT_SOURCE,
    RECEIVABLE_KIND,
    BatchNotFound,
    BatchState,
    BatchStateConflict,
    BatchSummary,
    EntryPolicy,
    InvalidVoucherCode,
    PrintedVoucher,
    VoucherAlreadyRedeemed,
    VoucherBatch,
    VoucherBlocked,
    VoucherEntryLocked,
    VoucherKeyMismatch,
    VoucherNotActive,
    VoucherNotFound,
    VoucherRedemption,
    VoucherState,
    VoucherSubscriberNotFound,
    batch_number,
    code_hash,
    generate_code,
    key_check,
    parse_batch_number,
    parse_code,
    require_batch_size,
    require_channel,
    require_nominal,
    serial_label,
)
from abonent.vouchers.repository import SqlVoucherRepository

log = structlog.get_logger("abonent.vouchers")

CHUNK = 2_000

# Refusals that count against the number (a guess that hit nothing it may use). A mistyped
# code (check digit), a locked entry and a number that is not ours do not count.
COUNTED: tuple[type[AbonentError], ...] = (
    VoucherNotFound,
    VoucherAlreadyRedeemed,
    VoucherBlocked,
    VoucherNotActive,
)


# Receives the printable codes, chunk by chunk, before the batch commits: the only time codes
# exist outside the printed cards. If it raises, the batch is not created.
CodeExport = Callable[[VoucherBatch, Sequence[PrintedVoucher]], None]


def vouchers_of(uow: UnitOfWork) -> SqlVoucherRepository:
    return SqlVoucherRepository(uow.connection)


def _secret(settings: Settings) -> bytes:
    return settings.secret_key.encode()


def entry_policy(settings: Settings) -> EntryPolicy:
    return EntryPolicy(
        max_failures=max(1, settings.voucher_max_failures),
        window=timedelta(hours=settings.voucher_failure_window_hours),
        lock=timedelta(hours=settings.voucher_lock_hours),
    )


# batches ---------------------------------------------------------------------------------------
def create_batch(
    db: Database,
    *,
    nominal: Tiyn,
    count: int,
    actor: str,
    export: CodeExport,
    progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> VoucherBatch:
    """Create ``count`` vouchers of ``nominal`` in state ``created``, in one transaction.

    Codes come from ``secrets``; only their keyed hashes are stored (bulk inserts of
    ``CHUNK`` rows). Each chunk goes to ``export`` before the commit; ``progress`` gets the
    number of vouchers done after each chunk.
    """
    require_nominal(nominal)
    require_batch_size(count)
    key = _secret(settings or Settings())
    with db.uow() as uow:
        repo = vouchers_of(uow)
        now = uow.clock.now()
        batch_id = repo.insert_batch(
            nominal=nominal, count=count, key_check=key_check(key), now=now, actor=actor
        )
        account_id = system_account(uow, AccountKind.VOUCHER_LIABILITY, batch_number(batch_id))
        repo.set_liability_account(batch_id, account_id)
        batch = repo.batch(batch_id)
        assert batch is not None
        serial = 1
        while serial <= count:
            size = min(CHUNK, count - serial + 1)
            codes = _fresh_codes(repo, key, size)
            serials = range(serial, serial + size)
            repo.insert_vouchers(batch_id, list(zip(serials, codes, strict=True)))
            export(
                batch,
                [
                    PrintedVoucher(batch.number, serial_label(batch_id, s), nominal, code)
                    for s, code in zip(serials, codes.values(), strict=True)
                ],
            )
            serial += size
            if progress is not None:
                progress(size)
        uow.audit.record(
            at=now,
            actor=actor,
            action="voucher.batch_created",
            subject=f"voucher_batch:{batch.number}",
            details={"nominal": nominal, "count": count},
        )
        uow.commit()
    log.info("voucher.batch_created", batch=batch.number, nominal=nominal, count=count)
    return batch


def _fresh_codes(repo: SqlVoucherRepository, key: bytes, size: int) -> dict[str, str]:
    """``size`` new codes by their hash, none colliding with a stored voucher (or each other)."""
    fresh: dict[str, str] = {}
    while len(fresh) < size:
        candidates: dict[str, str] = {}
        while len(candidates) < size - len(fresh):
            code = generate_code()
            digest = code_hash(key, code)
            if digest not in fresh:
                candidates[digest] = code
        taken = repo.existing_hashes(list(candidates))
        fresh.update((d, c) for d, c in candidates.items() if d not in taken)
    return fresh


def _batch_id(batch: str | int) -> int:
    return (
        batch
        if isinstance(batch, int) and not isinstance(batch, bool)
        else parse_batch_number(str(batch))
    )


def _locked_batch(uow: UnitOfWork, batch: str | int) -> VoucherBatch:
    found = vouchers_of(uow).batch(_batch_id(batch), lock=True)
    if found is None:
        raise BatchNotFound(f"no voucher batch {batch}")
    return found


def activate_batch(
    db: Database, batch: str | int, *, actor: str, settings: Settings | None = None
) -> BatchSummary:
    """Make a created batch sellable; its vouchers' nominal becomes a liability."""
    key = _secret(settings or Settings())
    with db.uow() as uow:
        repo = vouchers_of(uow)
        found = _locked_batch(uow, batch)
        if found.state is not BatchState.CREATED:
            raise BatchStateConflict(
                f"batch {found.number} is {found.state.value}; only a created batch activates"
            )
        if found.key_check != key_check(key):
            raise VoucherKeyMismatch(
                f"batch {found.number} was created under another secret key; its codes "
                "could not be redeemed"
            )
        now = uow.clock.now()
        if not repo.move_batch(
            found.id, from_states=[BatchState.CREATED], to=BatchState.ACTIVE, now=now
        ):
            raise BatchStateConflict(f"batch {found.number} changed meanwhile; try again")
        activated = repo.move_vouchers(
            found.id, from_state=VoucherState.CREATED, to=VoucherState.ACTIVE
        )
        transaction_id = None
        if activated:
            posted = ledger.record(
                uow,
                transfer_request(
                    kind="voucher.activation",
                    source=LEDGER_SOURCE,
                    idempotency_key=f"activate:{found.number}",
                    debit_account_id=system_account(uow, RECEIVABLE_KIND),
                    credit_account_id=found.liability_account_id,
                    amount=activated * found.nominal,
                    reference=f"voucher batch {found.number} activated",
                ),
            )
            transaction_id = posted.id
        uow.audit.record(
            at=now,
            actor=actor,
            action="voucher.batch_activated",
            subject=f"voucher_batch:{found.number}",
            details={"vouchers": activated, "liability": activated * found.nominal},
            transaction_id=transaction_id,
        )
        summary = _summaries(uow, [_reloaded(uow, found.id)], key)[0]
        uow.commit()
    log.info("voucher.batch_activated", batch=found.number, vouchers=activated)
    return summary


def block_batch(
    db: Database,
    batch: str | int,
    *,
    actor: str,
    reason: str = "",
    settings: Settings | None = None,
) -> BatchSummary:
    """Block a batch for good (stolen, lost, misprinted): its unredeemed vouchers refuse.

    The liability of the vouchers still active goes back to the receivable account; vouchers
    already redeemed stay redeemed.
    """
    key = _secret(settings or Settings())
    reason = reason.strip()[:200]
    with db.uow() as uow:
        repo = vouchers_of(uow)
        found = _locked_batch(uow, batch)
        if found.state is BatchState.BLOCKED:
            raise BatchStateConflict(f"batch {found.number} is already blocked")
        now = uow.clock.now()
        if not repo.move_batch(
            found.id,
            from_states=[BatchState.CREATED, BatchState.ACTIVE],
            to=BatchState.BLOCKED,
            now=now,
        ):
            raise BatchStateConflict(f"batch {found.number} changed meanwhile; try again")
        # A concurrent redemption holds its voucher's row; this update waits for it and then
        # skips the voucher if it was redeemed, so the released amount is exact.
        was_active = repo.move_vouchers(
            found.id, from_state=VoucherState.ACTIVE, to=VoucherState.BLOCKED
        )
        was_created = repo.move_vouchers(
            found.id, from_state=VoucherState.CREATED, to=VoucherState.BLOCKED
        )
        transaction_id = None
        if was_active:
            posted = ledger.record(
                uow,
                transfer_request(
                    kind="voucher.block",
                    source=LEDGER_SOURCE,
                    idempotency_key=f"block:{found.number}",
                    debit_account_id=found.liability_account_id,
                    credit_account_id=system_account(uow, RECEIVABLE_KIND),
                    amount=was_active * found.nominal,
                    reference=f"voucher batch {found.number} blocked",
                ),
            )
            transaction_id = posted.id
        uow.audit.record(
            at=now,
            actor=actor,
            action="voucher.batch_blocked",
            subject=f"voucher_batch:{found.number}",
            details={
                "reason": reason,
                "vouchers": was_active + was_created,
                "released": was_active * found.nominal,
            },
            transaction_id=transaction_id,
        )
        summary = _summaries(uow, [_reloaded(uow, found.id)], key)[0]
        uow.commit()
    log.info("voucher.batch_blocked", batch=found.number, vouchers=was_active + was_created)
    return summary


def _reloaded(uow: UnitOfWork, batch_id: int) -> VoucherBatch:
    batch = vouchers_of(uow).batch(batch_id)
    assert batch is not None
    return batch


def list_batches(
    db: Database, *, limit: int = 200, settings: Settings | None = None
) -> list[BatchSummary]:
    """The newest batches with their vouchers counted by state and their open liability."""
    key = _secret(settings or Settings())
    with db.reading() as uow:
        return _summaries(uow, vouchers_of(uow).batches(limit=limit), key)


def _summaries(uow: UnitOfWork, batches: list[VoucherBatch], key: bytes) -> list[BatchSummary]:
    counts = vouchers_of(uow).state_counts([b.id for b in batches])
    check = key_check(key)
    result = []
    for batch in batches:
        account = uow.ledger.account(batch.liability_account_id)
        result.append(
            BatchSummary(
                batch=batch,
                by_state=counts.get(batch.id, {}),
                liability=account.balance if account else 0,
                key_matches=batch.key_check == check,
            )
        )
    return result


# redemption ------------------------------------------------------------------------------------
def redeem_voucher(
    db: Database, *, code: str, msisdn: str, channel: str, actor: str
) -> VoucherRedemption:
    """Credit the voucher's nominal to ``msisdn``, exactly once per voucher.

    ``channel`` is one of ussd, sms, ivr, support, api; ``actor`` names who asked
    ("subscriber:+7707…", "support:Aliya", "api:partner"). Marking the voucher redeemed (a
    conditional update from ``active``) and the credit (``payments.credit_topup`` keyed by
    the voucher id) are one transaction: of any number of concurrent attempts one wins and
    the others see ``VoucherAlreadyRedeemed``.

    Every refusal is logged in its own transaction after the redemption rolled back; wrong
    codes count against the number and lock voucher entry for it after too many (see
    ``Settings.voucher_*``). Errors: see ``abonent.vouchers.domain``.
    """
    settings = Settings()
    return _redeem(
        db,
        code=code,
        msisdn=msisdn,
        channel=channel,
        actor=actor,
        key=_secret(settings),
        policy=entry_policy(settings),
    )


def _redeem(
    db: Database,
    *,
    code: str,
    msisdn: str,
    channel: str,
    actor: str,
    key: bytes,
    policy: EntryPolicy,
) -> VoucherRedemption:
    channel = require_channel(channel)
    number = parse_msisdn(msisdn)
    digest: str | None = None
    try:
        digest = code_hash(key, parse_code(code))
        return _redeem_once(db, digest=digest, msisdn=number, channel=channel, actor=actor)
    except (
        InvalidVoucherCode,
        VoucherSubscriberNotFound,
        SubscriberClosed,
        VoucherEntryLocked,
    ) as exc:
        _record_failure(db, number, channel, actor, exc, digest, policy, counted=False)
        raise
    except VoucherAlreadyRedeemed as exc:
        same_number = exc.details.get("redeemed_by_you") is True
        _record_failure(db, number, channel, actor, exc, digest, policy, counted=not same_number)
        raise
    except COUNTED as exc:
        _record_failure(db, number, channel, actor, exc, digest, policy, counted=True)
        raise


def _redeem_once(
    db: Database, *, digest: str, msisdn: str, channel: str, actor: str
) -> VoucherRedemption:
    try:
        with db.uow() as uow:
            repo = vouchers_of(uow)
            now = uow.clock.now()
            guard = repo.guard(msisdn)
            if guard is not None and guard.locked(now):
                assert guard.locked_until is not None
                raise VoucherEntryLocked(
                    "too many wrong card codes from this number; try again later",
                    locked_until=guard.locked_until.isoformat(),
                    retry_after_seconds=max(1, int((guard.locked_until - now).total_seconds())),
                )
            subscriber = uow.subscribers.by_msisdn(msisdn)
            if subscriber is None:
                raise VoucherSubscriberNotFound(f"no subscriber {masked(msisdn)}")
            if subscriber.status is SubscriberStatus.CLOSED:
                raise SubscriberClosed("the number is closed; payments are not accepted")
            found = repo.by_hash(digest)
            if found is None:
                raise VoucherNotFound("no card with this code; check the code")
            voucher_id = int(found["id"])
            _refuse_unless_active(VoucherState(found["state"]), found["redeemed_msisdn"], msisdn)
            if not repo.mark_redeemed(
                voucher_id, msisdn=msisdn, channel=channel, actor=actor, now=now
            ):
                state, redeemed_by = repo.voucher_state(voucher_id)
                _refuse_unless_active(state, redeemed_by, msisdn)
                raise VoucherAlreadyRedeemed("this card was already used")  # pragma: no cover
            serial = serial_label(int(found["batch_id"]), int(found["serial"]))
            payment = credit_topup(
                uow,
                TopUpRequest(
                    msisdn=msisdn,
                    amount=int(found["nominal"]),
                    channel=Channel.VOUCHER,
                    source=PAYMENT_SOURCE,
                    external_id=str(voucher_id),
                    clearing_account_id=int(found["liability_account_id"]),
                    method=f"voucher {serial} ({channel})",
                    actor=actor,
                ),
            )
            account = uow.ledger.account(subscriber.account_id)
            assert account is not None
            uow.audit.record(
                at=now,
                actor=actor,
                action="voucher.redeemed",
                subject=f"voucher:{serial}",
                details={
                    "msisdn": msisdn,
                    "channel": channel,
                    "amount": payment.amount,
                    "payment_id": payment.id,
                    "receipt_number": payment.receipt_number,
                },
                transaction_id=payment.transaction_id,
            )
            uow.commit()
    except sa_exc.IntegrityError:
        # The payments key (voucher, id) refused a second credit: someone else won.
        raise VoucherAlreadyRedeemed("this card was already used") from None
    log.info(
        "voucher.redeemed",
        serial=serial,
        msisdn=masked(msisdn),
        channel=channel,
        actor=actor,
        amount=payment.amount,
        receipt=payment.receipt_number,
    )
    return VoucherRedemption(
        msisdn=msisdn,
        amount=payment.amount,
        receipt_number=payment.receipt_number,
        balance_after=account.balance,
        serial=serial,
        batch=serial.split("-")[0],
        payment_id=payment.id,
        channel=channel,
        redeemed_at=now,
    )


def _refuse_unless_active(state: VoucherState, redeemed_msisdn: str | None, msisdn: str) -> None:
    if state is VoucherState.ACTIVE:
        return
    if state is VoucherState.CREATED:
        raise VoucherNotActive("this card is not on sale yet")
    if state is VoucherState.BLOCKED:
        raise VoucherBlocked("this card is blocked")
    raise VoucherAlreadyRedeemed(
        "this card was already used", redeemed_by_you=redeemed_msisdn == msisdn
    )


def _record_failure(
    db: Database,
    msisdn: str,
    channel: str,
    actor: str,
    error: AbonentError,
    digest: str | None,
    policy: EntryPolicy,
    *,
    counted: bool,
) -> None:
    """Log a refused redemption (and count it) in a transaction of its own.

    Storage trouble here is logged and swallowed: the caller's own error is what matters.
    """
    try:
        with db.uow() as uow:
            repo = vouchers_of(uow)
            now = uow.clock.now()
            repo.log_failure(
                at=now,
                msisdn=msisdn,
                channel=channel,
                actor=actor,
                reason=error.code,
                digest=digest,
                counted=counted,
            )
            locked_until = None
            attempts_left = None
            if counted:
                repo.ensure_guard(msisdn)
                guard = repo.guard(msisdn, lock=True)
                assert guard is not None
                updated = guard.after_failure(now, policy)
                repo.save_guard(msisdn, updated)
                attempts_left = max(0, policy.max_failures - updated.failures)
                if updated.locked(now) and not guard.locked(now):
                    locked_until = updated.locked_until
                    uow.audit.record(
                        at=now,
                        actor=actor,
                        action="voucher.entry_locked",
                        subject=f"subscriber:{msisdn}",
                        details={
                            "failures": updated.failures,
                            "until": locked_until.isoformat() if locked_until else None,
                        },
                    )
            uow.commit()
    except StorageUnavailable:
        log.error("voucher.failure_not_recorded", msisdn=masked(msisdn), reason=error.code)
        return
    if attempts_left is not None:
        error.details["attempts_left"] = attempts_left
    log.warning(
        "voucher.redeem_failed",
        msisdn=masked(msisdn),
        channel=channel,
        actor=actor,
        reason=error.code,
        counted=counted,
        attempts_left=attempts_left,
    )
    if locked_until is not None:
        log.warning("voucher.entry_locked", msisdn=masked(msisdn), until=locked_until.isoformat())


def unlock_entry(db: Database, msisdn: str, *, actor: str) -> bool:
    """Support lifts a number's wrong-code lock (and forgets its count). False if none."""
    number = parse_msisdn(msisdn)
    with db.uow() as uow:
        cleared = vouchers_of(uow).clear_guard(number)
        if cleared:
            uow.audit.record(
                at=uow.clock.now(),
                actor=actor,
                action="voucher.entry_unlocked",
                subject=f"subscriber:{number}",
            )
        uow.commit()
    return cleared
