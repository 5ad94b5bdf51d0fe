"""merge the feature branches into one head

Features were migrated side by side from 0002 (agents, vouchers, charging, USSD/SMS/credit,
cards/auto top-up, bills/cash/receipts, auth → cabinet → support). From here on there is one
head again, so a new migration has exactly one parent and ``alembic upgrade head`` works.

Revision ID: 0012
Revises: 0003, 0004, 0005, 0006, 0007, 0008, 0011
Create Date: 2026-11-22 02:50:00
"""

from __future__ import annotations

revision = "0012"
down_revision = ("0003", "0004", "0005", "0006", "0007", "0008", "0011")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to change: this revision only joins the branches."""
