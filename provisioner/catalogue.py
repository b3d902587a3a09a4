"""The working-group catalogue: a YAML file of standard working groups, validated on load."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]")
FIELDS = {"slug", "name", "description"}


class CatalogueError(ValueError):
    """The catalogue file is malformed; the message says where."""


@dataclass(frozen=True)
class WorkingGroup:
    slug: str
    name: str
    description: str

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
        if unknown := entry.keys() - FIELDS:
            raise CatalogueError(f"{where}: unknown field {', '.join(sorted(map(str, unknown)))}")
        if not all(isinstance(entry[name], str) and entry[name].strip() for name in FIELDS):
            raise CatalogueError(f"{where}: slug, name and description must be non-empty text")
        slug = entry["slug"]
        if not SLUG_PATTERN.fullmatch(slug):
            raise CatalogueError(
                f"{where}: slug {slug!r} must be 3 to 32 lowercase letters, digits and hyphens, "
                "starting with a letter"
            )
        if slug in seen:
            raise CatalogueError(f"{where}: slug {slug!r} appears twice")
        seen.add(slug)
        groups.append(WorkingGroup(slug, entry["name"].strip(), entry["description"].strip()))
    if not groups:
        raise CatalogueError(f"{path}: the catalogue lists no working group")
    return Catalogue(groups)
