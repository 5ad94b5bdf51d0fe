"""Imports every feature module that registers top-up hooks (see ``payments.hooks``).

``bootstrap.build`` imports this, so hooks are in place before any top-up runs.
Add a line when a feature registers a hook.
"""
