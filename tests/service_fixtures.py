"""The real services the playbooks provision, started once per session, reset per test.

Each `<service>` fixture gives the session's server in a known state for the test;
`offer` points a test app's worker at an inventory offering the given services
(and only those), as an occupation's inventory would. A missing Debian package
fails the fixture, never skips it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from flask import Flask

from provisioner.private_services.dokuwiki import BASE_ACL, PrivateDokuWiki
from provisioner.private_services.mailman import PrivateMailman
from provisioner.private_services.redmine import LdapSource, PrivateRedmine, golden_database
from provisioner.workflow import create_sysadmin

from suite_config import BASE_DN

LIST_DOMAIN = "lists.test.occupy"
WIKI_ADMIN = "wikibot"
WIKI_ADMIN_PASSWORD = "superuser passphrase for tests"


@contextmanager
def _folder(prefix: str) -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix=prefix)   # short paths: some services use unix sockets
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def mailman_server():
    with _folder("mailman-") as folder, PrivateMailman(folder, domain=LIST_DOMAIN) as server:
        yield server
    assert server.processes() == [], "a Mailman process outlived stop()"


@pytest.fixture
def mailman(mailman_server):
    """The session's Mailman, serving. Tests use volunteers of their own: lists persist."""
    mailman_server.start()        # a test may have stopped it
    return mailman_server


@pytest.fixture(scope="session")
def wiki_server(slapd_server):
    with _folder("wiki-") as folder, PrivateDokuWiki(
            folder, ldap_url=slapd_server.url, base_dn=BASE_DN, bind_dn=slapd_server.service_dn("wiki"),
            bind_password=slapd_server.service_passwords["wiki"], admin_user=WIKI_ADMIN,
            admin_password=WIKI_ADMIN_PASSWORD) as server:
        yield server


@pytest.fixture
def wiki(wiki_server, directory):
    """The session's wiki with no working-group namespace yet, its superuser in the directory."""
    wiki_server.start()
    wiki_server.acl_path.write_text(BASE_ACL)
    for area in ("pages", "meta", "attic"):
        shutil.rmtree(wiki_server.data_dir / area / "wg", ignore_errors=True)
    create_sysadmin(directory, WIKI_ADMIN, "wikibot@example.org", "Wiki Robot", WIKI_ADMIN_PASSWORD)
    return wiki_server


@pytest.fixture(scope="session")
def redmine_server(slapd_server, request, tmp_path_factory):
    cache = getattr(request.config, "cache", None)      # None with -p no:cacheprovider
    golden = golden_database(cache.mkdir("redmine-golden") if cache else tmp_path_factory.mktemp("golden"))
    ldap = LdapSource(host="127.0.0.1", port=slapd_server.port,
                      base_dn=f"ou=people,{slapd_server.base_dn}",
                      bind_dn=slapd_server.service_dn("redmine"),
                      bind_password=slapd_server.service_passwords["redmine"])
    with _folder("redmine-") as folder, PrivateRedmine(folder, ldap, golden=golden) as server:
        yield server


@pytest.fixture
def redmine(redmine_server):
    """The session's Redmine, serving, with no project and no account but the administrator's."""
    redmine_server.start()
    status, data = redmine_server.request("GET", "/users.json?status=&limit=100")
    assert status == 200
    for user in data["users"]:
        if user["login"] != "admin":
            assert redmine_server.request("DELETE", f"/users/{user['id']}.json")[0] == 204
    status, data = redmine_server.request("GET", "/projects.json?limit=100")
    for project in data["projects"]:
        if project.get("parent") is None:      # children go with their parent
            assert redmine_server.request("DELETE", f"/projects/{project['id']}.json")[0] == 204
    return redmine_server


def offer(app: Flask, inventory: Path, *services) -> Flask:
    """Point the app's worker at an inventory offering these services (and no other).

    A service is a private server or, to offer it with altered settings, its variables.
    """
    inventory.mkdir(exist_ok=True)
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    for service in services:
        host.update(service if isinstance(service, dict) else service.inventory_vars())
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": host}}}))
    app.config["INVENTORY"] = str(inventory)
    return app
