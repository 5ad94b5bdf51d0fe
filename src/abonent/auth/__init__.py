"""Subscriber authentication: one-time SMS codes, passwords, sessions, login throttling."""
