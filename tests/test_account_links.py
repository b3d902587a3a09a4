"""The account page is a volunteer's way in: each of their groups' list, archive, wiki and project."""

from __future__ import annotations

import re

import pytest

from provisioner import create_app
from provisioner.config import ConfigError

from portal_actions import VOLUNTEER_PASSWORD, Visitor
from suite_config import app_config

SERVICES = {"LIST_DOMAIN": "lists.occupy.example", "ARCHIVES_URL": "https://lists.occupy.example/",
            "WIKI_URL": "https://wiki.occupy.example", "REDMINE_URL": "https://redmine.occupy.example"}


@pytest.fixture
def services(request) -> dict[str, str]:
    """The services' settings, less the one a test names as its parameter."""
    left_out = getattr(request, "param", None)
    return {name: "" if name == left_out else value for name, value in SERVICES.items()}


@pytest.fixture
def app(directory, slapd_server, inbox, tmp_path, services):
    """The suite's portal, told where the services are."""
    config = app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}", inbox.port,
                        runner_dir=str(tmp_path / "runner"))
    return inbox.deliver_from(create_app({**config, **services}))


def links_on_account_page(app, sysadmin, verified) -> list[str]:
    verified()
    sysadmin.approve("vera", ["kitchen", "media"])
    volunteer = Visitor(app.test_client())
    volunteer.log_in("vera", VOLUNTEER_PASSWORD)
    page = volunteer.client.get("/account").get_data(as_text=True)
    return re.findall(r'href="([^"]+)"', page)


def test_each_group_links_its_archive_list_wiki_namespace_and_project(app, sysadmin, verified):
    links = links_on_account_page(app, sysadmin, verified)
    for slug in ("kitchen", "media"):
        # Through the login page, which sends someone logged in there straight on.
        assert (f"https://lists.occupy.example/accounts/login/"
                f"?next=/hyperkitty/list/wg-{slug}@lists.occupy.example/") in links
        assert f"mailto:wg-{slug}@lists.occupy.example" in links
        assert f"https://wiki.occupy.example/doku.php?id=wg:{slug}:start" in links
        assert f"https://redmine.occupy.example/projects/wg-{slug}" in links
    assert not any("wg-tech" in link for link in links)  # not her group


@pytest.mark.parametrize("services", ["ARCHIVES_URL", "WIKI_URL", "REDMINE_URL"], indirect=True)
def test_a_service_without_an_address_is_not_linked(app, sysadmin, verified, services):
    missing = next(name for name, value in services.items() if not value)
    links = links_on_account_page(app, sysadmin, verified)
    hosts = {"ARCHIVES_URL": "https://lists.", "WIKI_URL": "https://wiki.", "REDMINE_URL": "https://redmine."}
    assert not any(link.startswith(hosts[missing]) for link in links)
    assert sum(link.startswith(tuple(hosts.values())) for link in links) == 2 * 2


@pytest.mark.parametrize("setting", ["ARCHIVES_URL", "WIKI_URL", "REDMINE_URL"])
@pytest.mark.parametrize("address", ["javascript:alert(1)", "//evil.example", "wiki.occupy.example"])
def test_an_address_that_is_not_http_is_refused_at_start(slapd_server, tmp_path, setting, address):
    with pytest.raises(ConfigError, match=setting):
        create_app({**app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}"), setting: address})
