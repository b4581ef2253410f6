"""Alembic environment for the usage store: run programmatically by ``UsageStore``, no alembic.ini needed."""

from alembic import context

from fairshare.serving.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
