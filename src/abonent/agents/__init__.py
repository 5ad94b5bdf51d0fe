"""Payment agents: banks, Kaspi, Kassa24 and QIWI terminals topping up balances over HTTP."""
