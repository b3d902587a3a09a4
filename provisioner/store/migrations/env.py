"""Alembic's environment for the store, run by provisioner.store.migrate.

It never opens a connection of its own: migrate.py passes one, already inside the
transaction (and holding the lock) that the whole upgrade runs in.
"""

from alembic import context

from provisioner.store.schema import metadata

context.configure(connection=context.config.attributes["connection"], target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
