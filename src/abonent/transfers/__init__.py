"""Balance transfers between subscribers (*145*NUMBER*AMOUNT#)."""
