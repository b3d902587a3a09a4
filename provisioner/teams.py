"""Teams as the directory holds them, and the slugs of jobs resolved to their groups.

The directory is the source of truth for teams: those the catalogue defines are made by
the tree's set-up, the others by their working group's coordinators (workflow/teams.py),
all as an LDAP group wg-<wg>--<team> nested under the working group's, the team's name in
`ou`. A team whose working group the catalogue no longer lists is left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from .catalogue import Catalogue, Group, Team, split_slug, team_group_name
from .directory import Directory


def read_teams(directory: Directory, catalogue: Catalogue) -> dict[str, Team]:
    """Every team, by its qualified slug, in one search."""
    teams = {}
    for entry in directory.groups.teams():
        names = team_group_name(entry.name)
        parent = catalogue.get(names[0].removeprefix("wg-")) if names else None
        if names is None or parent is None or parent.group != names[0]:
            continue
        team = Team(parent, names[1], entry.title or names[1], entry.description or "")
        teams[team.slug] = team
    return teams


def resolve(catalogue: Catalogue, teams: dict[str, Team], slug: object) -> Group | None:
    """The working group or team of a (qualified) slug, or None."""
    split = split_slug(slug)
    if split is None:
        return None
    wg, team = split
    return catalogue.get(wg) if team is None else teams.get(f"{wg}.{team}")


def slugs_of(group_names: Iterable[str | None], catalogue: Catalogue) -> list[str]:
    """The (qualified) slugs of these LDAP group names: the catalogue's working groups
    (wg-<wg>) and their teams (wg-<wg>--<team>); anything else is left out."""
    slugs = []
    for name in group_names:
        if not name or not name.startswith("wg-"):
            continue
        names = team_group_name(name)
        if names is None and name.removeprefix("wg-") in catalogue:
            slugs.append(name.removeprefix("wg-"))
        elif names is not None and names[0].removeprefix("wg-") in catalogue:
            slugs.append(f"{names[0].removeprefix('wg-')}.{names[1]}")
    return sorted(slugs)


def needs_teams(slugs: Iterable[str]) -> bool:
    """Whether any of these slugs names a team (so the directory must be read)."""
    return any("." in slug for slug in slugs)
