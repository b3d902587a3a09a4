"""Schema migrations (Alembic): bring any store to the schema of `schema.py`.

A store is found in one of three states:
- empty: every revision runs;
- made by `metadata.create_all` before migrations existed (the store's tables, no
  `alembic_version`): it is stamped with the revision its tables match, then upgraded;
- migrated: the revisions it lacks run, none when it is current.

The whole upgrade is one transaction under a lock, so processes that start together
(gunicorn's workers, the worker service) upgrade once: the others wait, then find
nothing to do. Migrations only go forward; going back to an older release means
restoring a backup. A change to `schema.py` needs a revision in `migrations/versions/`;
tests/test_store_migrations.py fails until the two agree.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")

# Alembic's `context` and `op` are proxies global to the process: one upgrade at a time
# in a process; the database's lock (below) keeps processes apart.
_IN_PROCESS = threading.Lock()

# Any constant: the key of the PostgreSQL advisory lock that upgrades take.
POSTGRES_LOCK_KEY = 7_413_020_013

# The tables of revision 0001, the schema at commit e77143b. Every store made by
# create_all has them: the deploy role came after all of them.
FIRST_RELEASE_TABLES = frozenset({
    "audit_log", "used_tokens", "sessions", "jobs", "job_targets", "job_results",
    "group_requests", "totp_recovery_codes", "throttle_events",
})


class SchemaError(RuntimeError):
    """The database holds a schema this release cannot have made; nothing was changed."""


@dataclass(frozen=True)
class SchemaUpgrade:
    """What an upgrade found and left: revisions, None for an empty store."""

    found: str | None
    current: str
    adopted: bool  # made by create_all before migrations, and stamped `found`

    @property
    def changed(self) -> bool:
        return self.adopted or self.found != self.current

    def describe(self) -> str:
        if not self.changed:
            return f"The store is at the current schema ({self.current}): nothing to change."
        if self.found is None:
            return f"Migrated the store: created the schema ({self.current})."
        origin = f"made before migrations, matching {self.found}" if self.adopted else f"at {self.found}"
        if self.found == self.current:
            return f"Migrated the store: {origin}, recorded as {self.current}; no table changed."
        return f"Migrated the store: {origin}, upgraded to {self.current}."


def upgrade(engine: Engine) -> SchemaUpgrade:
    """Bring the database to the current schema, in one locked transaction."""
    with _IN_PROCESS, engine.begin() as connection:
        _lock(connection)
        found = current_revision(connection)
        adopted = False
        if found is None:
            found = _revision_made_by_create_all(connection)
            adopted = found is not None
        config = alembic_config(connection)
        _check_known(config, found)
        if adopted and found is not None:
            command.stamp(config, found)
        command.upgrade(config, "head")
        current = current_revision(connection)
        if current is None:
            raise SchemaError(f"the migrations left no schema revision: is {MIGRATIONS / 'versions'} "
                              "missing from this installation?")
        return SchemaUpgrade(found=found, current=current, adopted=adopted)


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration for running this store's migrations on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection  # env.py runs on it
    return config


def _check_known(config: Config, revision: str | None) -> None:
    """Refuse a database that a newer release migrated: this one would not know its schema."""
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if revision is not None and revision not in known:
        raise SchemaError(f"the database is at schema revision {revision}, which this release does not "
                          "know: a newer release migrated it; deploy that release, or restore a backup")


def _lock(connection: Connection) -> None:
    """Hold off every other upgrade until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # pysqlite opens no transaction for DDL: open one, taking the write lock now.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _revision_made_by_create_all(connection: Connection) -> str | None:
    """The revision a store made by create_all before migrations matches; None if it is empty.

    create_all added missing tables at every start, never columns: such a store has
    every table of the release it last ran, and a column only if it was created since.
    Stores made from now on are migrated from empty: this never learns a later revision.
    """
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    if not tables & FIRST_RELEASE_TABLES:
        return None
    if missing := FIRST_RELEASE_TABLES - tables:
        raise SchemaError(f"the database has some of the store's tables but not "
                          f"{', '.join(sorted(missing))}: not made by this portal, or changed by hand")
    if "request_decisions" not in tables:
        return "0001"
    if "runs_alone" not in {column["name"] for column in inspector.get_columns("jobs")}:
        return "0002"
    return "0003"
