"""Requests share bound directory connections (directory/pool.py): one bind serves many
requests, a connection slapd dropped reopens, and a forked worker never uses its parent's."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from provisioner import create_app
from provisioner.directory.pool import DirectoryPool
from provisioner.resources import get_directory

from suite_config import app_config, settings_for


def connections_to(port: int) -> int:
    """This process's established TCP connections to 127.0.0.1:`port`, from /proc, once the
    pools of apps earlier tests dropped are collected (and have closed theirs)."""
    gc.collect()
    ours = {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == "01" and remote == f"0100007F:{port:04X}" and f"socket:[{inode}]" in ours:
            count += 1
    return count


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
