"""The SQL store (SQLAlchemy Core): SQLite by default, PostgreSQL when several hosts share it.

The only part of the project that speaks SQL. Each concern keeps its tables and
queries in a module of its own; they all share `metadata`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from . import migrate


class StoreUnavailable(RuntimeError):
    """The database does not answer."""


class Store:
    def __init__(self, url: str):
        self.url = url
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_schema(self) -> migrate.SchemaUpgrade:
        """Create the schema, or migrate the one there to the current one (see migrate.py)."""
        try:
            return migrate.upgrade(self.engine)
        except sa.exc.OperationalError as error:
            raise StoreUnavailable(f"the database does not answer: {error.orig}") from None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on an error."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except sa.exc.OperationalError as error:
            raise StoreUnavailable(f"the database does not answer: {error.orig}") from None

    def ping(self) -> None:
        with self.begin() as connection:
            connection.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets the portal read while a worker writes; wait rather than fail on a lock
    # (first: turning WAL on takes one, when processes open a new store together).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: the database stays
    # intact on a crash, but the last commits may be lost on a power cut. Without it every
    # commit waits for the disk, and the threads of a busy portal queue for the write lock
    # past busy_timeout ("database is locked", seen under the portal benchmark's load).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
