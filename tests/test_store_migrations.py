"""Schema migrations: any store, empty, made before migrations or current, ends at schema.py's schema.

On SQLite and on the suite's real PostgreSQL. The release before migrations (commit
e77143b) made its tables with create_all; tests/data has a frozen copy of its schema.
"""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from provisioner.cli import cli
from provisioner.store import Store, migrate
from provisioner.store.schema import metadata, request_decisions

E77143B = runpy.run_path(str(Path(__file__).parent / "data" / "store_schema_e77143b.py"))["metadata"]
AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# Rows for every table of e77143b, as an occupation's store would hold them.
ROWS = {
    "audit_log": [{"id": 1, "at": AT, "actor": "alice", "action": "approve", "subject": "vera",
                   "detail": "kitchen", "remote_addr": "192.0.2.7"}],
    "used_tokens": [{"digest": "a" * 64, "purpose": "verify", "used_at": AT}],
    "sessions": [{"digest": "b" * 64, "uid": "alice", "created_at": AT, "last_seen": AT,
                  "ended_at": None, "remote_addr": "192.0.2.7"}],
    "jobs": [{"id": 1, "kind": "grant", "state": "done", "attempts": 1, "max_attempts": 5,
              "not_before": AT, "lease_owner": None, "lease_expires": None, "created_at": AT,
              "created_by": "alice", "started_at": AT, "finished_at": AT, "error": None},
             {"id": 2, "kind": "revoke", "state": "queued", "attempts": 0, "max_attempts": 5,
              "not_before": AT, "lease_owner": None, "lease_expires": None, "created_at": AT,
              "created_by": None, "started_at": None, "finished_at": None, "error": None}],
    "job_targets": [{"job_id": 1, "uid": "vera", "groups": "kitchen media"},
                    {"job_id": 2, "uid": "otto", "groups": "kitchen"}],
    "job_results": [{"id": 1, "job_id": 1, "attempt": 1, "worker": "host:1", "uid": "vera",
                     "service": "lists", "task": "subscribe", "status": "changed", "message": None,
                     "at": AT}],
    "group_requests": [{"id": 1, "uid": "vera", "slug": "media", "state": "open", "created_at": AT,
                        "decided_at": None, "decided_by": None, "reason": None}],
    "totp_recovery_codes": [{"id": 1, "uid": "alice", "salt": "c" * 32, "digest": "d" * 64,
                             "created_at": AT, "used_at": None}],
    "throttle_events": [{"id": 1, "kind": "login", "key": "vera", "at": AT}],
}
DECISION = {"entry_id": "e" * 36, "uid": "vera", "decision": "approve", "actor": "alice",
            "claimed_at": AT, "decided_at": AT}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    yield store
    store.dispose()


def differences(store: Store, models: sa.MetaData = metadata) -> list:
    """What alembic's autogenerate would change to make the database match `models`."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_server_default": True})
        return [change for change in compare_metadata(context, models)
                if not (change[0] == "remove_table" and change[1].name == "alembic_version")]


def every_row(store: Store, tables: sa.MetaData) -> dict[str, list[tuple]]:
    with store.engine.connect() as connection:
        return {name: connection.execute(sa.select(*table.columns).order_by(*table.primary_key)).all()
                for name, table in tables.tables.items()}


def invoke_upgrade(url: str):
    """`provisioner upgrade` as the deploy role runs it: settings from the environment."""
    return CliRunner().invoke(cli, ["upgrade"], env={
        "PROVISIONER_CONFIG": "", "PROVISIONER_DATABASE_URL": url,
        "PROVISIONER_SECRET_KEY": "migration-test-key", "PROVISIONER_LDAP_BIND_PASSWORD": "unused here"})


def run_upgrade(url: str) -> str:
    result = invoke_upgrade(url)
    assert result.exit_code == 0, result.output
    return result.output


def test_migrations_build_exactly_the_schema_of_schema_py(store):
    """Fails when schema.py changes without a revision in provisioner/store/migrations/versions/."""
    upgrade = store.create_schema()
    assert (upgrade.found, upgrade.adopted, upgrade.changed) == (None, False, True)
    drift = differences(store)
    assert drift == [], ("schema.py and the migrations differ; add a revision that makes these "
                         f"changes (see the latest in provisioner/store/migrations/versions/): {drift}")


def test_the_first_revision_is_the_schema_that_e77143b_created(store):
    with store.engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0001")
    assert differences(store, E77143B) == []


# Columns the revisions after 0003 added (0004: a revoke's carried address; 0005: a deleted
# account's pseudonym; 0009: a reconcile's services).
ADDED_AFTER_0003 = [("job_targets", "mail"), ("job_targets", "forget_as"), ("jobs", "services")]
# Indexes on older tables they added (0009: one reconcile waiting or running).
INDEXES_ADDED_AFTER_0003 = ["jobs_one_reconcile"]
# Tables they added (0006: invitations, with 0012's language; 0007: end dates' notices,
# renewal requests; 0008: approval previews; 0009: drift checks and their differences;
# 0011: the mail outbox).
TABLES_ADDED_AFTER_0003 = ["invitations", "end_date_notices", "renewal_requests", "previews",
                           "drift_differences", "drift_checks", "mail_outbox"]


def make_store_as_before_migrations(store: Store, release: str) -> None:
    """The tables that create_all left, as of `release`, with rows in every one."""
    if release == "6050266":
        metadata.create_all(store.engine)   # main's schema, just before migrations...
        with store.engine.begin() as connection:   # ...without what revisions added since
            for index in INDEXES_ADDED_AFTER_0003:
                connection.exec_driver_sql(f"DROP INDEX {index}")
            for table, column in ADDED_AFTER_0003:
                connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
            for table in TABLES_ADDED_AFTER_0003:
                connection.exec_driver_sql(f"DROP TABLE {table}")
    else:
        E77143B.create_all(store.engine)
    if release == "87cfeae":
        request_decisions.create(store.engine)
    with store.engine.begin() as connection:
        for name, rows in ROWS.items():
            connection.execute(E77143B.tables[name].insert(), rows)
        if release != "e77143b":
            connection.execute(request_decisions.insert(), DECISION)


@pytest.mark.parametrize(("release", "revision"), [("e77143b", "0001"), ("87cfeae", "0002"),
                                                   ("6050266", "0003")])
def test_old_store_keeps_its_rows(store, database_url, release, revision):
    """A store made by create_all before migrations: stamped with its revision, then upgraded."""
    make_store_as_before_migrations(store, release)
    before = every_row(store, E77143B)

    output = run_upgrade(database_url)

    assert f"made before migrations, matching {revision}" in output
    assert every_row(store, E77143B) == before
    with store.engine.connect() as connection:
        assert connection.execute(sa.select(metadata.tables["jobs"].c.runs_alone)).scalars().all() == [
            False, False]
        decisions = connection.execute(sa.select(request_decisions.c.uid)).scalars().all()
    assert decisions == ([] if release == "e77143b" else ["vera"])
    assert differences(store) == []
    upgraded = every_row(store, metadata)
    assert "nothing to change" in run_upgrade(database_url)
    assert every_row(store, metadata) == upgraded


def test_an_upgraded_store_upgrades_to_nothing(store, database_url):
    assert "created the schema" in run_upgrade(database_url)
    with store.engine.begin() as connection:
        connection.execute(metadata.tables["audit_log"].insert(), ROWS["audit_log"])
    before = every_row(store, metadata)
    assert "nothing to change" in run_upgrade(database_url)
    assert every_row(store, metadata) == before


def test_upgrades_started_together_migrate_once(database_url):
    """As when the portal's workers and the worker service start at once: one migrates, the others wait."""
    command = shutil.which("provisioner", path=os.path.dirname(sys.executable))
    env = {**os.environ, "PROVISIONER_CONFIG": "", "PROVISIONER_DATABASE_URL": database_url,
           "PROVISIONER_SECRET_KEY": "migration-test-key", "PROVISIONER_LDAP_BIND_PASSWORD": "unused here"}
    upgrades = [subprocess.Popen([command, "upgrade"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [upgrade.communicate(timeout=60)[0] for upgrade in upgrades]
    assert [upgrade.returncode for upgrade in upgrades] == [0, 0, 0], outputs
    assert sorted("created the schema" in output for output in outputs) == [False, False, True], outputs


def test_a_database_with_only_some_of_the_tables_is_refused_unchanged(store, database_url):
    E77143B.tables["audit_log"].create(store.engine)
    result = invoke_upgrade(database_url)
    assert result.exit_code == 1
    assert "not made by this portal" in result.output and "throttle_events" in result.output
    assert set(sa.inspect(store.engine).get_table_names()) == {"audit_log"}


def test_a_store_a_newer_release_migrated_is_refused_unchanged(store, database_url):
    store.create_schema()
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    result = invoke_upgrade(database_url)
    assert result.exit_code == 1
    assert "revision 9999, which this release does not know" in result.output
    with store.engine.connect() as connection:
        assert migrate.current_revision(connection) == "9999"
