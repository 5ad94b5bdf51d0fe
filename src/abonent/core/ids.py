"""Identifiers people see: receipt numbers and opaque public tokens."""

from __future__ import annotations

import secrets
from base64 import urlsafe_b64encode


def public_token(nbytes: int = 18) -> str:
    """An unguessable URL-safe token (share links, session ids)."""
    return secrets.token_urlsafe(nbytes)


def public_tokens(count: int, nbytes: int = 18) -> list[str]:
    """``count`` tokens as ``public_token(nbytes)`` makes them, from one read of the system's
    random source (a group commit's receipts: one system call, not one per token)."""
    if count <= 0:
        return []
    raw = secrets.token_bytes(nbytes * count)
    if nbytes % 3 == 0:  # whole base64 quanta: one encoding, cut in equal parts, no padding
        text = urlsafe_b64encode(raw).decode("ascii")
        size = nbytes // 3 * 4
        return [text[i : i + size] for i in range(0, len(text), size)]
    return [
        urlsafe_b64encode(raw[i : i + nbytes]).rstrip(b"=").decode("ascii")
        for i in range(0, len(raw), nbytes)
    ]


def receipt_number(transaction_id: int) -> str:
    """A receipt number derived from the ledger transaction id: stable and unique."""
    return f"R{transaction_id:010d}"
