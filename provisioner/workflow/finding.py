"""Sysadmins find people: the approval queue by working group and availability, and the
accounts by what is typed in one box and a few filters, a page at a time.

What is typed never reaches an LDAP filter: the directory is searched with values from
the catalogue and the lifecycle's statuses only (escaped all the same), and the typed
words are matched here against each account's name, username, address and skills.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..directory import Person, Status
from ..languages import Text
from .approval import verified_requests
from .context import Portal
from .errors import InvalidInput
from .paging import Page, page_of
from .permissions import require_sysadmin
from .registration import AVAILABILITY

REQUESTS_PER_PAGE = 50
PEOPLE_PER_PAGE = 50
MAX_SEARCH = 200
# Every status an entry of ou=people may have; the others are requests'.
ACCOUNT_STATUSES = tuple(status for status in Status if status not in (Status.UNVERIFIED, Status.VERIFIED))


@dataclass(frozen=True)
class RequestFilter:
    """Which verified requests to show; empty shows all."""

    group: str = ""          # a working group's slug, among those they asked for
    availability: str = ""   # a key of AVAILABILITY


@dataclass(frozen=True)
class PeopleQuery:
    """Which accounts to show; empty shows all."""

    text: str = ""           # words, each found in the name, username, address or a skill
    group: str = ""          # a working group's slug
    status: str = ""         # one of ACCOUNT_STATUSES
    availability: str = ""   # a key of AVAILABILITY


def request_queue(portal: Portal, which: RequestFilter, *, actor: str, page: int = 1) -> Page[Person]:
    """One page of the approval queue, oldest first. InvalidInput for a filter naming
    no working group or availability."""
    queue = verified_requests(portal, actor=actor)
    _refuse(_choice_errors(portal, which.group, which.availability))
    shown = [person for person in queue
             if (not which.group or which.group in person.requested_groups)
             and (not which.availability or person.availability == which.availability)]
    return page_of(shown, page, REQUESTS_PER_PAGE)


def find_people(portal: Portal, query: PeopleQuery, *, actor: str, page: int = 1) -> Page[Person]:
    """One page of the accounts that match, by uid."""
    require_sysadmin(portal, actor)
    errors = _choice_errors(portal, query.group, query.availability)
    if query.status and query.status not in ACCOUNT_STATUSES:
        errors["status"] = Text("choose a status from the list")
    if len(query.text) > MAX_SEARCH:
        errors["text"] = Text("search for at most %(most)d characters", most=MAX_SEARCH)
    _refuse(errors)
    group = portal.catalogue.get(query.group) if query.group else None
    found = portal.directory.people.accounts_where(
        statuses=[Status(query.status)] if query.status else ACCOUNT_STATUSES,
        availability=query.availability or None,
        member_of=portal.directory.layout.group_dn(group.group) if group else None)
    words = _folded(query.text).split()
    shown = [person for person in found
             if all(any(word in value for value in _searchable(person)) for word in words)]
    return page_of(shown, page, PEOPLE_PER_PAGE)


def _choice_errors(portal: Portal, group: str, availability: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if group and group not in portal.catalogue:
        errors["group"] = Text("choose a working group from the list")
    if availability and availability not in AVAILABILITY:
        errors["availability"] = Text("choose an availability from the list")
    return errors


def _refuse(errors: dict[str, str]) -> None:
    if errors:
        raise InvalidInput(errors)


def _folded(text: str) -> str:
    """Compatibility forms and case set aside: "ＶＥＲＡ" finds vera."""
    return unicodedata.normalize("NFKC", text).casefold()


def _searchable(person: Person) -> list[str]:
    return [_folded(value) for value in (person.uid, person.display_name, person.mail, *person.skills)]
