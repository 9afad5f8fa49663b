"""Alembic environment: run by engine.store.db, which hands over an open connection inside a
transaction (``config.attributes["connection"]``) so that the caller's lock and transaction cover
the whole upgrade. There is no alembic.ini: engine.store.db.alembic_config builds the config."""

from __future__ import annotations

from alembic import context

from engine.store.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through engine.store.db (engine db upgrade)")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later revisions recreate tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
