"""Approval previews (issue 17): what approving a request would do in each service.

A sysadmin who may approve the request asks; the worker answers with a check-mode run
of the grant playbook (preview_runs.py), in a run of its own, so no web request waits
for Ansible. The answer is shown as current only while it is fresh (FRESH_FOR) and the
request is as the run read it; otherwise the sysadmin is told to ask again. It previews
the approval into the groups the request asked for, as approving without choosing does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..directory import Person
from ..languages import Text
from ..preview_runs import fingerprint
from ..store import previews
from . import lifecycle
from .context import Portal
from .errors import WorkflowError
from .lifecycle import APPROVE
from .permissions import require

FRESH_FOR = timedelta(minutes=5)
# What the page shows while it waits, when it is there, and when it is no longer current.
NOT_ASKED, WORKING, READY, OUT_OF_DATE, FAILED = "not asked", "working", "ready", "out of date", "failed"
# The accounts the approval makes, as the services' words say it.
ACCOUNTS = {"account created in ou=people": Text("an account in the directory"),
            "Redmine account created": Text("a Redmine account")}


@dataclass(frozen=True)
class ServicePreview:
    """One service's answer: the steps in its own words, "would be" left out."""

    service: str
    status: str                 # changed, ok, failed, not_offered
    steps: tuple[str, ...]


@dataclass(frozen=True)
class ApprovalPreview:
    uid: str
    state: str                  # NOT_ASKED, WORKING, READY, OUT_OF_DATE, FAILED
    groups: tuple[str, ...]     # the working groups the approval would grant (their names)
    asked_at: datetime | None = None
    finished_at: datetime | None = None
    services: tuple[ServicePreview, ...] = ()
    lists_to_subscribe: tuple[str, ...] = ()
    namespaces_to_open: tuple[str, ...] = ()
    projects_to_join: tuple[str, ...] = ()
    accounts_to_create: tuple[str, ...] = ()
    error: str | None = None    # why the run failed, or why the preview is out of date


def ask_preview(portal: Portal, uid: str, *, actor: str) -> None:
    """Ask the worker what approving `uid` would do; a preview asked before is replaced."""
    _request(portal, uid, actor)
    with portal.store.begin() as connection:
        previews.ask(connection, uid, asked_by=actor, now=portal.clock())


def approval_preview(portal: Portal, uid: str, *, actor: str) -> ApprovalPreview:
    """The preview of approving `uid` as the page shows it."""
    person = _request(portal, uid, actor)
    groups = tuple(wg.name if (wg := portal.catalogue.get(slug)) else slug
                   for slug in person.requested_groups)
    with portal.store.begin() as connection:
        found = previews.get(connection, uid)
    if found is None:
        return ApprovalPreview(uid, NOT_ASKED, groups)
    if found.state in (previews.WAITING, previews.RUNNING):
        return ApprovalPreview(uid, WORKING, groups, asked_at=found.asked_at)
    services = summarise(found.outcomes)
    finished_at = found.finished_at
    state, error = (FAILED, found.error) if found.state == previews.FAILED else (READY, None)
    if found.fingerprint != fingerprint(person):
        state, error = OUT_OF_DATE, Text("the request changed after this preview was made")
    elif finished_at is None or (now := portal.clock()) - _like(finished_at, now) > FRESH_FOR:
        state, error = OUT_OF_DATE, Text("this preview is older than %(minutes)d minutes",
                                         minutes=FRESH_FOR.seconds // 60)
    if state == OUT_OF_DATE:
        return ApprovalPreview(uid, state, groups, asked_at=found.asked_at, finished_at=finished_at,
                               error=error)
    return ApprovalPreview(uid, state, groups, asked_at=found.asked_at, finished_at=finished_at,
                           services=services, error=error, **items(services))


def steps(message: str | None) -> tuple[str, ...]:
    """A module's message as steps, the same words whether it did them or says it would."""
    text = (message or "").removeprefix("would be done: ")
    return tuple(part.removeprefix("would be ") for part in text.split("; ") if part)


def summarise(outcomes: tuple[previews.PreviewOutcome, ...]) -> tuple[ServicePreview, ...]:
    """One answer per service (a service reports once per volunteer and task)."""
    return tuple(ServicePreview(outcome.service, outcome.status, steps(outcome.message))
                 for outcome in outcomes)


def items(services: tuple[ServicePreview, ...]) -> dict[str, tuple[str, ...]]:
    """What the approval would do, in plain words: the lists it would subscribe to, the wiki
    namespaces it would open, the Redmine projects it would join, the accounts it would make."""
    found: dict[str, list[str]] = {"lists_to_subscribe": [], "namespaces_to_open": [],
                                   "projects_to_join": [], "accounts_to_create": []}
    where = {("lists", "subscribed to "): "lists_to_subscribe", ("wiki", "can edit "): "namespaces_to_open",
             ("redmine", "member of "): "projects_to_join"}
    for service in services:
        if service.status not in ("changed", "ok"):
            continue
        for step in service.steps:
            if step in ACCOUNTS:
                found["accounts_to_create"].append(ACCOUNTS[step])
            for (name, prefix), kind in where.items():
                if service.service == name and step.startswith(prefix):
                    found[kind] += step.removeprefix(prefix).split(", ")
    return {kind: tuple(names) for kind, names in found.items()}


def _request(portal: Portal, uid: str, actor: str) -> Person:
    """The request, once `actor` may approve it (NotAllowed otherwise, before anything is read
    or stored) and it may be approved."""
    require(portal, APPROVE.who, actor)
    person = portal.directory.people.find(uid)
    lifecycle.check(APPROVE, uid, person, portal=portal)
    assert person is not None   # check refuses nobody
    if not person.pending:
        raise WorkflowError(Text("%(uid)s is already being approved: there is nothing to preview", uid=uid))
    return person


def _like(moment: datetime, like: datetime) -> datetime:
    """SQLite gives back naive datetimes, as the store's other readers say."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=like.tzinfo)
