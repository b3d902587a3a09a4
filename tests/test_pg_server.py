"""The private PostgreSQL server the job queue tests run on: it starts, isolates and locks rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from provisioner.private_services.postgres import PostgresError, find_binaries


def scalar(url: str, statement: str):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(statement)).scalar_one()
    finally:
        engine.dispose()


def test_answers_through_sqlalchemy(postgres_server):
    assert scalar(postgres_server.url(), "SELECT 1") == 1
    assert scalar(postgres_server.url(), "SHOW listen_addresses") == "127.0.0.1"
    assert scalar(postgres_server.url(), "SHOW fsync") == "off"


def test_databases_are_independent(postgres_server):
    first = postgres_server.create_database("independence_one")
    second = postgres_server.create_database("independence_two")
    engine = sa.create_engine(first)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE jobs (id integer PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO jobs VALUES (1)"))
    finally:
        engine.dispose()
    assert scalar(first, "SELECT count(*) FROM jobs") == 1
    assert scalar(second, "SELECT to_regclass('jobs') IS NULL") is True


def test_skip_locked_skips_a_row_locked_by_another_transaction(postgres_server):
    engine = sa.create_engine(postgres_server.create_database("skip_locked"))
    claim = sa.text("SELECT id FROM jobs ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE jobs (id integer PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO jobs VALUES (1), (2)"))
        with engine.connect() as worker_a, engine.connect() as worker_b:
            # Should SKIP LOCKED not work, worker B fails after 2 s instead of hanging.
            worker_b.execute(sa.text("SET lock_timeout = '2s'"))
            worker_b.commit()
            assert worker_a.execute(claim).scalar_one() == 1  # A's transaction stays open
            assert worker_b.execute(claim).scalar_one() == 2
            assert worker_b.execute(claim).scalar_one() == 2  # its own lock is no obstacle
            worker_b.rollback()
            worker_a.rollback()  # A lets go of job 1
            assert worker_b.execute(claim).scalar_one() == 1
            worker_b.rollback()
    finally:
        engine.dispose()


def test_a_missing_postgresql_fails_naming_the_package(tmp_path):
    with pytest.raises(PostgresError, match="Debian's postgresql package"):
        find_binaries(str(tmp_path / "*" / "bin" / "initdb"))
