"""Abonent: the money side and self-service side of a mobile operator."""

__version__ = "0.1.0"
