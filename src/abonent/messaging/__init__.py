"""Free requests between subscribers: call me, top up my account, collect call."""
