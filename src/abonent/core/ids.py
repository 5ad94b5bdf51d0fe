"""Identifiers people see: receipt numbers and opaque public tokens."""

from __future__ import annotations

import secrets


def public_token(nbytes: int = 18) -> str:
    """An unguessable URL-safe token (share links, session ids)."""
    return secrets.token_urlsafe(nbytes)


def receipt_number(transaction_id: int) -> str:
    """A receipt number derived from the ledger transaction id: stable and unique."""
    return f"R{transaction_id:010d}"
