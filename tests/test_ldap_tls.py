"""ldaps between the portal (and its worker) and the directory: certificates are checked.

ldap3 leaves an ldaps certificate unchecked unless told; a portal on another host than
its LDAP servers would then hand its bind password to whoever answers on the way.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace

import pytest

from provisioner import create_app
from provisioner.catalogue import load_catalogue
from provisioner.config import ConfigError
from provisioner.directory import Directory, DirectoryUnavailable
from provisioner.jobs import GRANT
from provisioner.private_services.process import free_port
from provisioner.private_services.slapd import PrivateSlapd, TlsFiles
from provisioner.private_services.stack import PrivateStack
from provisioner.workflow import initialise_directory

from certificates import make_certificates
from job_helpers import add_volunteers, job, make_worker, queue
from suite_config import OCCUPATION, ORGANISATION, app_config, settings_for


@pytest.fixture(scope="module")
def tls_slapd(tmp_path_factory):
    """A private slapd serving ldaps with a certificate for 127.0.0.1 from a test CA."""
    certificates = tmp_path_factory.mktemp("certificates")
    ca_file = make_certificates(certificates, "slapd")
    other_ca = make_certificates(certificates / "other", ca_name="Another CA")
    folder = tempfile.mkdtemp(prefix="stack-")  # short: ldapi paths must stay under 108 bytes
    tls = TlsFiles(certificate=certificates / "slapd.crt", key=certificates / "slapd.key")
    try:
        with PrivateStack(folder, OCCUPATION, fast_writes=True, tls=tls) as stack:
            server = stack.slapd()
            with Directory(settings_for(server)) as directory:
                initialise_directory(directory, load_catalogue(), ORGANISATION)
            yield server, str(ca_file), str(other_ca)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def over_tls(server: PrivateSlapd, ca_file: str, url: str | None = None):
    return replace(settings_for(server), url=url or server.ldaps_url, ca_file=ca_file)


def test_the_portal_reads_the_directory_over_ldaps_with_the_servers_ca(tls_slapd):
    server, ca_file, _ = tls_slapd
    with Directory(over_tls(server, ca_file)) as directory:
        assert directory.groups.get("wg-kitchen") is not None


@pytest.mark.parametrize("which", ["system CAs", "another CA"])
def test_a_certificate_from_an_unknown_ca_is_refused_before_the_bind(tls_slapd, which):
    server, _, other_ca = tls_slapd
    ca_file = "" if which == "system CAs" else other_ca
    with Directory(over_tls(server, ca_file)) as directory, \
            pytest.raises(DirectoryUnavailable, match="certificate verify failed"):
        directory.groups.get("wg-kitchen")


def test_a_ca_file_that_cannot_be_read_is_named_at_start(tls_slapd, tmp_path):
    server, _, _ = tls_slapd
    missing = tmp_path / "no-such-ca.crt"
    with pytest.raises(ConfigError, match=f"PROVISIONER_LDAP_CA_FILE is {missing}"):
        create_app({**app_config(server), "LDAP_CA_FILE": str(missing)})


def test_the_worker_checks_the_directory_over_ldaps_with_failover(tls_slapd, tmp_path):
    """The worker's playbook gets the same URLs and CA: the first server is down, the second answers."""
    server, ca_file, _ = tls_slapd
    dead = f"ldaps://127.0.0.1:{free_port()}"
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    config = {**app_config(server, store, runner_dir=str(tmp_path / "runner")),
              "LDAP_URL": f"{dead} {server.ldaps_url}", "LDAP_CA_FILE": ca_file}
    app = create_app(config)
    with Directory(over_tls(server, ca_file)) as directory:
        job_id = queue(app, GRANT, add_volunteers(directory, 2), max_attempts=1)
        make_worker(app, directory).run_once()
        done = job(app, job_id)
        assert done.state == "succeeded", done.error
        unverified = create_app({**config, "LDAP_CA_FILE": ""})
        job_id = queue(unverified, GRANT, add_volunteers(directory, 1, prefix="more"), max_attempts=1)
        make_worker(unverified, directory).run_once()
        failed = job(unverified, job_id)
    assert failed.state == "failed" and "certificate verify failed" in failed.error
