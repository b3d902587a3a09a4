"""Coordinators create teams inside their working groups (issue 17).

A team is made as the catalogue's teams are: an LDAP group wg-<wg>--<team> nested under the
working group's, its name in `ou` and its description in `description`. Its list, wiki
namespace and Redmine subproject are made by the first grant that names it.
"""

from __future__ import annotations

import unicodedata

from ..catalogue import Team, valid_slug
from ..languages import Text
from ..teams import read_teams
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .memberships import working_group
from .permissions import NotAllowed, active_person, is_sysadmin

MAX_TEAM_NAME = 64
MAX_TEAM_DESCRIPTION = 500


SLUG_HINT = Text("a team's short name is 3 to 32 lowercase letters, digits and hyphens, starting "
                 "with a letter, not ending with a hyphen, without two hyphens in a row")
# Why a team's name or description is refused: missing, too long (the limit filled in), controls.
MISSING = {"name": Text("give the team's name")}
TOO_LONG = {"name": Text("keep the name under %(most)d characters"),
            "description": Text("keep the description under %(most)d characters")}
CONTROLS = {"name": Text("remove the control characters from the name"),
            "description": Text("remove the control characters from the description")}


def _text(value: object, limit: int, field: str, *, required: bool) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        return MISSING[field]
    if len(text) > limit:
        return Text(TOO_LONG[field].msgid, most=limit)
    if any(unicodedata.category(character) == "Cc" for character in text):
        return CONTROLS[field]
    return ""


def create_team(portal: Portal, wg_slug: object, slug: object, name: object, description: object = "", *,
                actor: str, remote_addr: str | None = None) -> Team:
    """Create a team of a working group; only its coordinators and the sysadmins may."""
    group = working_group(portal, wg_slug)
    person = active_person(portal, actor)
    if person is None or not (is_sysadmin(portal, person)
                              or group.group in portal.directory.groups.owned_by(person.uid)):
        portal.audit("team-refused", actor=actor, remote_addr=remote_addr, detail=group.slug)
        raise NotAllowed(Text("Only the coordinators of %(name)s and the sysadmins create its teams.",
                              name=group.name))
    errors: dict[str, str] = {}
    if not valid_slug(slug):
        errors["slug"] = SLUG_HINT
    for field, value, limit, required in (("name", name, MAX_TEAM_NAME, True),
                                          ("description", description, MAX_TEAM_DESCRIPTION, False)):
        if problem := _text(value, limit, field, required=required):
            errors[field] = problem
    if errors:
        raise InvalidInput(errors)
    assert isinstance(slug, str) and isinstance(name, str)
    team = Team(group, slug, name.strip(), description.strip() if isinstance(description, str) else "")
    if team.slug in read_teams(portal.directory, portal.catalogue) or not portal.directory.groups.ensure(
            team.group, team.description or None, title=team.name):
        raise WorkflowError(Text("%(name)s has a team %(slug)s already: choose another short name.",
                                 name=group.name, slug=slug))
    portal.audit("team-created", actor=actor, remote_addr=remote_addr, detail=team.slug)
    return team
