"""Money in: top-ups from every channel, their receipts, status and corrections."""
