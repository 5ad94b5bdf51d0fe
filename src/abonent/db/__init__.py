"""Storage plumbing: engines, the unit of work, shared column types and Alembic migrations."""
