"""The working-group catalogue: a YAML file of standard working groups, validated on load.

A working group may have teams (issue 17): smaller groups inside it with a list, a wiki
sub-namespace and a Redmine subproject of their own. The catalogue may define some
(`teams:` under a working group); coordinators create others at runtime, and the
directory holds them all (workflow/teams.py reads them). A team's slug is qualified by
its working group's, `<wg>.<team>`; everything that takes a working group's slug takes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]")
SLUG_RULE = ("3 to 32 lowercase letters, digits and hyphens, starting with a letter, "
             "not ending with a hyphen, without two hyphens in a row")
FIELDS = {"slug", "name", "description"}
OPTIONAL_FIELDS = {"teams"}
# `--` joins a working group's slug and a team's in the team's names (wg-<wg>--<team>),
# which is why no slug may hold it: no team's name can then be a working group's.
TEAM_JOINER = "--"
TEAM_SEPARATOR = "."


def valid_slug(slug: object) -> bool:
    """The catalogue's rule for a working group's slug and a team's (unqualified) slug."""
    return isinstance(slug, str) and bool(SLUG_PATTERN.fullmatch(slug)) and TEAM_JOINER not in slug


class CatalogueError(ValueError):
    """The catalogue file is malformed; the message says where."""


@dataclass(frozen=True)
class TeamDefinition:
    """A team as the catalogue defines it: its own slug (unqualified), name, description."""

    slug: str
    name: str
    description: str


@dataclass(frozen=True)
class WorkingGroup:
    slug: str
    name: str
    description: str
    # the teams the catalogue defines (the directory holds these and those made at runtime)
    teams: tuple[TeamDefinition, ...] = field(default=(), compare=False, repr=False)

    @property
    def parent(self) -> None:
        """A working group is in no other group."""
        return None

    @property
    def title(self) -> str:
        """Its name as a sentence names it."""
        return self.name

    @property
    def parent_redmine_project(self) -> None:
        return None

    @property
    def group(self) -> str:
        """The LDAP group (cn under ou=groups)."""
        return f"wg-{self.slug}"

    @property
    def list_name(self) -> str:
        """The mailing list's local part, wg-<slug>@lists.<domain>."""
        return f"wg-{self.slug}"

    @property
    def wiki_namespace(self) -> str:
        return f"wg:{self.slug}"

    @property
    def redmine_project(self) -> str:
        return f"wg-{self.slug}"


@dataclass(frozen=True)
class Team:
    """A team inside a working group: every name comes from both slugs, none collides with a
    working group's (no slug holds `--`), and the LDAP group is nested under the working
    group's (directory/layout.py derives the parent from the name)."""

    parent: WorkingGroup
    team_slug: str
    name: str
    description: str

    @property
    def title(self) -> str:
        """Its name as a sentence names it, with its working group's."""
        return f"{self.name} ({self.parent.name})"

    @property
    def slug(self) -> str:
        """The qualified slug, `<wg>.<team>`: what job targets, join requests and URLs carry."""
        return f"{self.parent.slug}{TEAM_SEPARATOR}{self.team_slug}"

    @property
    def group(self) -> str:
        """The LDAP group: cn=wg-<wg>--<team>,cn=wg-<wg>,ou=groups (unique across the tree,
        since the wiki knows groups by their cn)."""
        return f"{self.parent.group}{TEAM_JOINER}{self.team_slug}"

    @property
    def list_name(self) -> str:
        return f"{self.parent.list_name}{TEAM_JOINER}{self.team_slug}"

    @property
    def wiki_namespace(self) -> str:
        return f"{self.parent.wiki_namespace}:{self.team_slug}"

    @property
    def redmine_project(self) -> str:
        """A subproject of the working group's project."""
        return f"{self.parent.redmine_project}{TEAM_JOINER}{self.team_slug}"

    @property
    def parent_redmine_project(self) -> str:
        return self.parent.redmine_project


# What a job, a join request or a batch entry names: a working group or a team.
Group = WorkingGroup | Team


def split_slug(slug: object) -> tuple[str, str | None] | None:
    """(working group's slug, team's slug or None) of a slug or a qualified slug; None
    when it breaks the catalogue's rule."""
    if not isinstance(slug, str):
        return None
    wg, separator, team = slug.partition(TEAM_SEPARATOR)
    if not valid_slug(wg) or (separator and not valid_slug(team)):
        return None
    return wg, team if separator else None


def team_group_name(group: str) -> tuple[str, str] | None:
    """(working group's LDAP group, team's slug) of a team's LDAP group name, else None."""
    parent, joiner, team = group.partition(TEAM_JOINER)
    return (parent, team) if joiner and parent.startswith("wg-") and valid_slug(team) else None


class Catalogue:
    def __init__(self, working_groups: list[WorkingGroup]):
        self._by_slug = {group.slug: group for group in working_groups}

    def __iter__(self) -> Iterator[WorkingGroup]:
        return iter(self._by_slug.values())

    def __len__(self) -> int:
        return len(self._by_slug)

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def get(self, slug: str) -> WorkingGroup | None:
        return self._by_slug.get(slug)

    def defined_teams(self) -> list[Team]:
        """The teams the catalogue defines, each with its working group."""
        return [Team(group, team.slug, team.name, team.description)
                for group in self for team in group.teams]


def bundled_catalogue_path() -> Path:
    return Path(str(resources.files("provisioner") / "catalogue.yaml"))


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    path = Path(path) if path else bundled_catalogue_path()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CatalogueError(f"cannot read the catalogue {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise CatalogueError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("working_groups"), list):
        raise CatalogueError(f"{path}: expected a mapping with a 'working_groups' list")
    groups: list[WorkingGroup] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["working_groups"], start=1):
        where = f"{path}: working group {index}"
        if not isinstance(entry, dict):
            raise CatalogueError(f"{where}: expected a mapping with {', '.join(sorted(FIELDS))}")
        if missing := FIELDS - entry.keys():
            raise CatalogueError(f"{where}: missing {', '.join(sorted(missing))}")
        if unknown := entry.keys() - FIELDS - OPTIONAL_FIELDS:
            raise CatalogueError(f"{where}: unknown field {', '.join(sorted(map(str, unknown)))}")
        if not all(isinstance(entry[name], str) and entry[name].strip() for name in FIELDS):
            raise CatalogueError(f"{where}: slug, name and description must be non-empty text")
        slug = entry["slug"]
        if not valid_slug(slug):
            raise CatalogueError(f"{where}: slug {slug!r} must be {SLUG_RULE}")
        if slug in seen:
            raise CatalogueError(f"{where}: slug {slug!r} appears twice")
        seen.add(slug)
        teams = _teams(entry.get("teams", []), f"{where} ({slug})")
        groups.append(WorkingGroup(slug, entry["name"].strip(), entry["description"].strip(), teams))
    if not groups:
        raise CatalogueError(f"{path}: the catalogue lists no working group")
    return Catalogue(groups)


def _teams(entries: object, where: str) -> tuple[TeamDefinition, ...]:
    if not isinstance(entries, list):
        raise CatalogueError(f"{where}: teams must be a list")
    teams: list[TeamDefinition] = []
    for index, entry in enumerate(entries, start=1):
        here = f"{where}: team {index}"
        if not isinstance(entry, dict):
            raise CatalogueError(f"{here}: expected a mapping with {', '.join(sorted(FIELDS))}")
        if missing := FIELDS - entry.keys():
            raise CatalogueError(f"{here}: missing {', '.join(sorted(missing))}")
        if unknown := entry.keys() - FIELDS:
            raise CatalogueError(f"{here}: unknown field {', '.join(sorted(map(str, unknown)))}")
        if not all(isinstance(entry[name], str) and entry[name].strip() for name in FIELDS):
            raise CatalogueError(f"{here}: slug, name and description must be non-empty text")
        if not valid_slug(entry["slug"]):
            raise CatalogueError(f"{here}: slug {entry['slug']!r} must be {SLUG_RULE}")
        if any(team.slug == entry["slug"] for team in teams):
            raise CatalogueError(f"{here}: slug {entry['slug']!r} appears twice")
        teams.append(TeamDefinition(entry["slug"], entry["name"].strip(), entry["description"].strip()))
    return tuple(teams)
