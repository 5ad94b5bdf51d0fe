"""Trust credit (доверительный платёж): extra balance for a few days, repaid by top-ups."""
