"""Side effects (SMS, e-mail, events) leave through an outbox written in the same transaction."""
