"""The private slapd: starts, keeps its data across restarts, says why when it cannot start."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from provisioner.private_services.slapd import PrivateSlapd, SlapdError

from ldap_helpers import root_connection


@pytest.fixture
def folder():
    path = tempfile.mkdtemp(prefix="slapd-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_data_survives_a_restart_with_a_new_root_password(folder):
    with PrivateSlapd(folder, "dc=keep,dc=test") as server:
        with root_connection(server) as conn:
            conn.add("dc=keep,dc=test", ["dcObject", "organization"], {"o": "Keep"})
        first_password = server.root_password
    assert not server.running
    restarted = PrivateSlapd(folder, "dc=keep,dc=test")
    assert restarted.root_password != first_password
    with restarted, root_connection(restarted) as conn:
        assert conn.search("dc=keep,dc=test", "(o=Keep)")
    assert first_password not in (restarted.config_path.read_text())


def test_a_config_slapd_refuses_gives_slapds_own_message(folder):
    with pytest.raises(SlapdError, match="slapd refused .*slapd.conf.*suffix"):
        PrivateSlapd(folder, "not a dn").start()


def test_a_port_held_by_another_process_is_reported(folder):
    with PrivateSlapd(folder, "dc=one,dc=test") as first:
        second_folder = tempfile.mkdtemp(prefix="slapd-")
        try:
            with pytest.raises(SlapdError, match=f"did not start on ldap://127.0.0.1:{first.port}"):
                PrivateSlapd(second_folder, "dc=two,dc=test", port=first.port).start()
        finally:
            shutil.rmtree(second_folder, ignore_errors=True)
        assert first.running


def test_a_socket_path_slapd_cannot_take_is_refused_before_starting():
    with pytest.raises(SlapdError, match="too long for an ldapi socket"):
        PrivateSlapd("/tmp/" + "x" * 120, "dc=x")
