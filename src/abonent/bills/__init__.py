"""Postpaid bills: the monthly bill cycle built from the ledger, allocation, overdue bars."""
