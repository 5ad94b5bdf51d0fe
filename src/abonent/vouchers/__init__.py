"""Instant payment cards (vouchers): batches, keyed-hash codes, activation and redemption."""
