"""alembic's entry point for the app-state store: run the migrations on the connection
`engine.core.migrations` hands over (there is no alembic.ini and no URL here)."""

from __future__ import annotations

from alembic import context

from engine.core import store

if context.is_offline_mode():
    raise SystemExit("The app-state migrations run against a database only (no --sql mode).")

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=store.metadata,  # what `draft` compares the head schema against
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
