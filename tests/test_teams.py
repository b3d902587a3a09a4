"""Teams inside working groups (issue 17): names, the directory, joining by request, leaving,
and coordinators creating them. Provisioning them is tests/test_teams_end_to_end.py."""

from __future__ import annotations

import pytest
from test_group_requests import account, followed, queued

from provisioner.catalogue import CatalogueError, load_catalogue
from provisioner.resources import get_store
from provisioner.store import audit, group_requests

TEAM = "tech.digital-strategy"


def test_a_teams_names_never_collide_with_a_working_groups_and_its_group_nests(tmp_path, directory):
    team = load_catalogue().defined_teams()[0]
    assert (team.slug, team.group, team.list_name, team.wiki_namespace, team.redmine_project,
            team.parent_redmine_project) == (
        TEAM, "wg-tech--digital-strategy", "wg-tech--digital-strategy", "wg:tech:digital-strategy",
        "wg-tech--digital-strategy", "wg-tech")
    dn = directory.layout.group_dn(team.group)
    assert dn.startswith("cn=wg-tech--digital-strategy,cn=wg-tech,ou=groups,")
    assert directory.layout.group_name(dn) == team.group
    assert directory.layout.group_name(dn.replace("cn=wg-tech,", "cn=wg-media,")) is None
    assert [entry.name for entry in directory.groups.teams()] == [team.group]   # made by the set-up
    path = tmp_path / "catalogue.yaml"
    for text, message in [("working_groups:\n  - {slug: 'a--b', name: K, description: D}", "two hyphens"),
                          ("working_groups:\n  - {slug: tech, name: T, description: D, teams: "
                           "[{slug: 'x--y', name: X, description: D}]}", "team 1: slug 'x--y'")]:
        path.write_text(text)
        with pytest.raises(CatalogueError, match=message):
            load_catalogue(path)


def test_only_a_member_joins_a_team_its_coordinator_decides_and_leaving_the_group_leaves_it(
        app, directory, inbox):
    tina = account(app, directory, "tina", groups=["kitchen"])
    page = followed(tina, tina.submit("/account/groups", {"group": TEAM}, action="/account/groups/join"))
    assert "Only members of Tech can join its teams" in page
    vera = account(app, directory, "vera", groups=["tech"])
    # no coordinator of its own: the working group's decides
    tom = account(app, directory, "tom", groups=["tech"], coordinates=["tech"])
    assert "Ask to join Digital strategy" in vera.client.get("/account/groups").get_data(as_text=True)
    vera.submit("/account/groups", {"group": TEAM}, action="/account/groups/join")
    assert "Digital strategy (Tech)" in inbox.only_message("tom@example.org").get_content()
    page = tom.client.get("/groups/requests").get_data(as_text=True)
    assert "asks to join Digital strategy (Tech)" in page
    with app.app_context(), get_store().begin() as connection:
        request_id = group_requests.of_person(connection, "vera")[0].id
    tom.submit("/groups/requests", {}, action=f"/groups/requests/{request_id}/approve")
    assert directory.groups.of("vera") == ["wg-tech", "wg-tech--digital-strategy"]
    assert queued(app)[-1] == ("grant", {"vera": [TEAM]})

    followed(vera, vera.submit("/account/groups", {"group": "tech"}, action="/account/groups/leave"))
    assert directory.groups.of("vera") == []
    assert queued(app)[-1] == ("revoke", {"vera": ["tech", TEAM]})


def test_a_coordinator_creates_a_team_once_and_nobody_else_may(app, directory):
    tom = account(app, directory, "tom", groups=["kitchen"], coordinates=["kitchen"])
    form = {"name": "Soup <b>", "slug": "soup", "description": "Soups & stews"}
    page = followed(tom, tom.submit("/account/groups", form, action="/account/groups/kitchen/teams"))
    assert "The team Soup <b> (Kitchen) is created" in page
    assert "Soup &lt;b&gt;" in tom.client.get("/account/groups").get_data(as_text=True)   # escaped
    group = directory.groups.get("wg-kitchen--soup")
    assert group.dn.startswith("cn=wg-kitchen--soup,cn=wg-kitchen,") and group.description == "Soups & stews"
    page = followed(tom, tom.submit("/account/groups", form, action="/account/groups/kitchen/teams"))
    assert "Kitchen has a team soup already" in page
    page = followed(tom, tom.submit("/account/groups", {**form, "slug": "a--b"},
                                    action="/account/groups/kitchen/teams"))
    assert "two hyphens in a row" in page
    with app.app_context(), get_store().begin() as connection:
        assert [entry.detail for entry in audit.entries(connection)
                if entry.action == "team-created"] == ["kitchen.soup"]
    vera = account(app, directory, "vera", groups=["kitchen"])
    refused = vera.submit("/account/groups", form | {"slug": "bread"}, action="/account/groups/kitchen/teams")
    assert refused.status_code == 403
    assert [entry.name for entry in directory.groups.teams()] == [
        "wg-kitchen--soup", "wg-tech--digital-strategy"]
