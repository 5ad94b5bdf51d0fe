"""USSD gateway endpoint and the session engine that runs the service codes."""
