"""Linked bank cards and card top-ups: acquirer port, sandbox and CloudPayments adapters."""
