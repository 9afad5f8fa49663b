"""Alembic migrations of the lead store (run by engine.store.db; see docs/operations.md)."""
