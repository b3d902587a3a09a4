"""A volunteer's way in to each of their working groups: its list, archive, wiki and Redmine.

The names come from the catalogue (`WorkingGroup`), the addresses from the settings
(where people reach each service); a service whose address is not set is left out,
so a page never shows a link that leads nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from ..catalogue import WorkingGroup


@dataclass(frozen=True)
class ServiceAddresses:
    """Where people reach the services (settings LIST_DOMAIN, ARCHIVES_URL, WIKI_URL, REDMINE_URL)."""

    list_domain: str = ""
    archives_url: str = ""
    wiki_url: str = ""
    redmine_url: str = ""


@dataclass(frozen=True)
class GroupLinks:
    group: WorkingGroup
    list_address: str | None
    archive: str | None
    wiki: str | None
    redmine: str | None


def group_links(addresses: ServiceAddresses, group: WorkingGroup) -> GroupLinks:
    """The links of one group; None for a service the settings do not place."""
    list_address = f"{group.list_name}@{addresses.list_domain}" if addresses.list_domain else None
    return GroupLinks(
        group=group,
        list_address=list_address,
        archive=_archive(addresses.archives_url, list_address) if list_address else None,
        # A namespace's start page is <namespace>:start in DokuWiki.
        wiki=_under(addresses.wiki_url, "doku.php?id=" + quote(f"{group.wiki_namespace}:start", safe=":")),
        redmine=_under(addresses.redmine_url, f"projects/{quote(group.redmine_project, safe='')}"),
    )


def _archive(archives_url: str, list_address: str) -> str | None:
    """The list's archive through the login page: a private archive answers a visitor not yet
    logged in there with 403, and the login page sends one who is straight on."""
    if not archives_url:
        return None
    # HyperKitty names a list's archive by the list's address.
    prefix = urlsplit(archives_url).path.rstrip("/")
    archive_path = f"{prefix}/hyperkitty/list/{quote(list_address, safe='@')}/"
    return _under(archives_url, "accounts/login/?" + urlencode({"next": archive_path}, safe="/@"))


def _under(base: str, path: str) -> str | None:
    return f"{base.rstrip('/')}/{path}" if base else None
