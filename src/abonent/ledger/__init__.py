"""Double-entry ledger of all money in Abonent, in integer tiyn."""
