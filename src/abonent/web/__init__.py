"""The web shell: app factory, error mapping, health, metrics; features add routers."""
