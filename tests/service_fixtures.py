"""The real services the playbooks provision: the private stack's, started once per session, reset per test.

Each `<service>` fixture gives the session's server in a known state for the test;
`offer` points a test app's worker at an inventory offering the given services
(and only those), as an occupation's inventory would. A missing Debian package
fails the fixture, never skips it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask

from provisioner.private_services.dokuwiki import BASE_ACL
from provisioner.private_services.stack import write_inventory
from provisioner.workflow import create_sysadmin

from suite_config import LIST_DOMAIN, WIKI_ADMIN, WIKI_ADMIN_PASSWORD

__all__ = ["LIST_DOMAIN", "WIKI_ADMIN", "WIKI_ADMIN_PASSWORD", "offer"]


@pytest.fixture(scope="session")
def mailman_server(private_stack):
    server = private_stack.mailman()
    yield server
    server.stop()
    assert server.processes() == [], "a Mailman process outlived stop()"


@pytest.fixture
def mailman(mailman_server):
    """The session's Mailman, serving. Tests use volunteers of their own: lists persist."""
    mailman_server.start()        # a test may have stopped it
    return mailman_server


@pytest.fixture(scope="session")
def mailman_web_server(private_stack):
    """HyperKitty and Postorius; the session's Mailman archives there from now on (and takes posts
    over LMTP), restarted for it if it ran without."""
    server = private_stack.mailman_web()
    yield server
    server.stop()
    assert server.processes() == [], "a process of the web parts outlived stop()"


@pytest.fixture
def mailman_web(mailman_web_server, mailman):
    """The web parts serving, their Mailman too. Lists and archives persist: tests use lists,
    people and message ids of their own."""
    mailman_web_server.start()
    return mailman_web_server


@pytest.fixture(scope="session")
def wiki_server(private_stack):
    return private_stack.wiki()


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
def redmine_server(private_stack):
    return private_stack.redmine()


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
    app.config["INVENTORY"] = str(write_inventory(inventory, *services))
    return app
