"""Requests share bound directory connections (directory/pool.py): one bind serves many
requests, a connection slapd dropped reopens, and a forked worker never uses its parent's.
Password checks bind again on one kept connection of their own, which holds no password."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import ldap3

from provisioner import create_app
from provisioner.directory import Directory, NewPerson
from provisioner.directory.pool import DirectoryPool
from provisioner.resources import get_directory
from provisioner.workflow import initialise_directory

from suite_config import ORGANISATION, app_config, settings_for

PASSWORD = "correct horse battery staple"


def sockets_to(port: int) -> set[str]:
    """This process's established TCP connections to 127.0.0.1:`port` (their sockets), from
    /proc, once the pools of apps earlier tests dropped are collected (and have closed theirs)."""
    gc.collect()
    ours = {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}
    found = set()
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, socket = fields[2], fields[3], f"socket:[{fields[9]}]"
        if state == "01" and remote == f"0100007F:{port:04X}" and socket in ours:
            found.add(socket)
    return found


def connections_to(port: int) -> int:
    return len(sockets_to(port))


def test_many_requests_bind_once_and_leave_one_connection(slapd_server, tmp_path):
    app = create_app(app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}"))
    client = app.test_client()
    before = connections_to(slapd_server.port)
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
    assert connections_to(slapd_server.port) == before + 1


def test_a_connection_slapd_dropped_reopens_on_the_next_request(own_slapd, tmp_path):
    client = create_app(app_config(own_slapd, f"sqlite:///{tmp_path / 'store.sqlite'}")).test_client()
    assert client.get("/healthz").status_code == 200
    own_slapd.stop()
    assert client.get("/healthz").status_code == 503
    own_slapd.start()
    assert client.get("/healthz").status_code == 200


def test_a_request_that_failed_unhandled_closes_its_connection(slapd_server, tmp_path):
    app = create_app(app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}"))
    before = connections_to(slapd_server.port)
    try:
        with app.app_context():
            get_directory().ping()
            raise KeyError("cut short")
    except KeyError:
        pass
    assert connections_to(slapd_server.port) == before


def test_idle_connections_beyond_the_limit_are_closed(slapd_server):
    pool = DirectoryPool(settings_for(slapd_server), max_idle=2)
    before = connections_to(slapd_server.port)
    taken = [pool.take() for _ in range(3)]
    for directory in taken:
        directory.ping()
    assert connections_to(slapd_server.port) == before + 3
    for directory in taken:
        pool.give_back(directory)
    assert connections_to(slapd_server.port) == before + 2
    again = pool.take()
    assert again in taken
    pool.give_back(again)
    pool.close()
    assert connections_to(slapd_server.port) == before


def test_a_forked_process_opens_its_own_connection(slapd_server):
    pool = DirectoryPool(settings_for(slapd_server))
    parents = pool.take()
    parents.ping()
    pool.give_back(parents)
    child = os.fork()
    if child == 0:  # the child: exit status 0 only when it got a connection of its own that works
        try:
            mine = pool.take()
            mine.ping()
            os._exit(0 if mine is not parents else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pool.take() is parents          # the parent's connection is still its own, and works
    parents.ping()
    parents.close()


def connections_holding(password: str) -> list[ldap3.Connection]:
    gc.collect()
    return [obj for obj in gc.get_objects() if isinstance(obj, ldap3.Connection) and obj.password == password]


def add_alice(directory: Directory) -> None:
    directory.people.add(NewPerson(uid="alice", display_name="Alice", mail="alice@example.org"),
                         pending=False)
    directory.people.set_password("alice", PASSWORD)


def test_password_checks_bind_again_on_one_connection_that_keeps_no_password(directory, slapd_server):
    add_alice(directory)
    before = sockets_to(slapd_server.port)
    assert directory.people.check_password("alice", PASSWORD) is True
    kept = sockets_to(slapd_server.port)
    assert len(kept - before) == 1
    outcomes = [directory.people.check_password(uid, password) for uid, password in [
        ("alice", PASSWORD + "x"), ("alice", PASSWORD), ("nobody", PASSWORD), ("alice", PASSWORD)]]
    assert outcomes == [False, True, False, True]   # each bind answers for its own name and password
    assert sockets_to(slapd_server.port) == kept
    assert connections_holding(PASSWORD) == []
    directory.close()                                 # its own connection and the checks' go
    after = sockets_to(slapd_server.port)
    assert not after & (kept - before) and len(after) == len(kept) - 2


def test_a_password_check_after_slapd_restarted_binds_on_a_new_connection(own_slapd, catalogue):
    with Directory(settings_for(own_slapd)) as directory:
        initialise_directory(directory, catalogue, ORGANISATION)
        add_alice(directory)
        assert directory.people.check_password("alice", PASSWORD) is True
        own_slapd.stop()
        own_slapd.start()
        assert directory.people.check_password("alice", PASSWORD + "x") is False
        assert directory.people.check_password("alice", PASSWORD) is True
