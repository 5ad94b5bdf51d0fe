"""SMS: delivery of outbox messages through a gateway adapter, incoming SMS, the inbox."""
