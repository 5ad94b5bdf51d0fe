"""Who did what to whom, written in the same transaction as the change itself."""
