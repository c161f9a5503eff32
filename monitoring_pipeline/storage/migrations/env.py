"""Alembic environment for the results store: run on the connection the store hands over (see
`storage.results._upgrade`); the version table has its own name, so Dagster's tables may
share the database."""

from alembic import context

from monitoring_pipeline.storage.results import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
