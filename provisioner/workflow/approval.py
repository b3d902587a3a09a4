"""Sysadmins approve or reject verified requests.

Each request is decided once: a decision first claims the request in the store
(store/decisions.py), so concurrent clicks, by one sysadmin or several, approve
or reject it once, with one job, one audit entry and one mail; the others are
told it is decided. Approval is then a sequence of steps (move the entry, add each
group, queue provisioning with the audit entry, mark active, welcome), each a step
that is done once however often it runs: the entry read at the start says whether it
was moved, the groups' adds are written to the DNs the layout gives and slapd says
which were there already, so approving again after a failure half-way completes it
and never does a step twice. Rejecting several at once rejects each as a single
rejection does, claim included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Literal

from sqlalchemy.engine import Connection

from ..directory import DirectoryError, Person, Status
from ..jobs import GRANT
from ..languages import Text, said_by
from ..mail import MailError
from ..store import StoreUnavailable, decisions
from ..store import jobs as queue
from . import lifecycle
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .lifecycle import APPROVE, REJECT
from .permissions import require_sysadmin
from .terms import check_not_past

MAX_REASON = 2000
MAX_SELECTED = 100  # requests decided in one go: two queue pages


@dataclass(frozen=True)
class Outcome:
    """What became of one request of several decided at once."""

    uid: str
    refused: str | None = None  # why it was not done, in words (a Text if it was one); None when it was


class ByAvailability(Enum):
    DEFAULT = "default"   # approve's end date when the approver gives none: default_end_date


def verified_requests(portal: Portal, *, actor: str) -> list[Person]:
    """The approval queue: verified requests, including any whose approval was cut short."""
    require_sysadmin(portal, actor)
    return portal.directory.people.with_status(Status.VERIFIED)


def default_end_date(portal: Portal, person: Person) -> date | None:
    """The end date an approval gives unless the approver chooses: from the time they give."""
    return portal.terms.default_end_date(person.availability, portal.clock().date())


def approve(portal: Portal, uid: str, groups: Iterable[str] | None, *, actor: str,
            remote_addr: str | None = None,
            end_date: date | None | Literal[ByAvailability.DEFAULT] = ByAvailability.DEFAULT) -> None:
    """Approve into `groups` (slugs), or the groups they asked for when None; with `end_date`
    (None: none), or by default the one their availability gives (default_end_date).

    The entry is read once, at the start; every write then goes to the DN that read gave
    (or the move made), and slapd refuses what is wrong (a group that is not there)."""
    directory = portal.directory
    with lifecycle.transition(portal, APPROVE, uid, actor=actor, remote_addr=remote_addr) as step:
        person = step.entry
        if end_date is ByAvailability.DEFAULT:
            end_date = default_end_date(portal, person)
        check_not_past(end_date, today=portal.clock().date())
        slugs = list(dict.fromkeys(person.requested_groups if groups is None else groups))
        chosen = [group for slug in slugs if (group := portal.catalogue.get(slug)) is not None]
        if unknown := len(slugs) - len(chosen):
            raise InvalidInput({"groups": Text("%(count)d of these are not working groups", count=unknown)})
        with _deciding(portal, person, APPROVE.name, actor=actor) as mark_decided:
            account = directory.people.activate(person)
            if end_date != person.end_date:
                directory.people.set_end_date(account, end_date)
            for group in chosen:
                directory.groups.add_member(group.group, account)
            with portal.store.begin() as connection:  # the job and its audit entry, once
                queue.enqueue(connection, GRANT, {uid: slugs}, created_by=actor, now=portal.clock(),
                              max_attempts=portal.jobs.max_attempts)
                step.record(connection, detail="working groups: " + (", ".join(slugs) or "none")
                            + f"; end date {end_date.isoformat() if end_date else 'none'}")
                mark_decided(connection)
            # Last: until then, the request stays queued.
            directory.people.set_status(account, APPROVE.target_status)
    try:
        portal.mailer.send(person.mail, "welcome", language=person.language,
                           uid=uid, display_name=person.display_name,
                           groups=[group.name for group in chosen],
                           end_date=end_date,
                           login_link=portal.link("/login"))
    except MailError as error:
        portal.audit("mail-failed", actor=actor, subject=uid, detail=f"welcome: {error}")


@contextmanager
def _deciding(portal: Portal, person: Person, decision: str, *,
              actor: str) -> Iterator[Callable[[Connection], None]]:
    """Hold the request's decision claim for the block; WorkflowError when another holds it.

    The block calls the given function inside the transaction that commits its effects.
    An approval whose effects were committed but whose entry was not yet marked active
    is finished here (by whoever comes next) without doing anything twice.
    """
    entry_id = person.entry_id
    if entry_id is None:  # every entry read from the directory has its entryUUID
        raise RuntimeError(f"{person.uid}'s entry has no entryUUID: its decision cannot be claimed")
    with portal.store.begin() as connection:
        held = decisions.claim(connection, entry_id, person.uid, decision, actor=actor,
                               now=portal.clock())
    if not held.won:
        if held.decided and held.decision == APPROVE.name:
            account = portal.directory.people.activate(person)
            portal.directory.people.set_status(account, APPROVE.target_status)
        raise WorkflowError(_already_decided(person.uid, held.decision, decided=held.decided))
    try:
        yield lambda connection: decisions.mark_decided(connection, entry_id, portal.clock())
    except Exception:
        with suppress(StoreUnavailable), portal.store.begin() as connection:
            decisions.release(connection, entry_id)  # else it goes stale in minutes
        raise


def _already_decided(uid: str, decision: str, *, decided: bool) -> Text:
    if decision == APPROVE.name:
        return (Text("%(uid)s is already approved", uid=uid) if decided
                else Text("%(uid)s is already being approved", uid=uid))
    return (Text("%(uid)s is already rejected", uid=uid) if decided
            else Text("%(uid)s is already being rejected", uid=uid))


def reject(portal: Portal, uid: str, reason: str, *, actor: str,
           remote_addr: str | None = None) -> None:
    """Delete the request and mail the reason to the volunteer."""
    with lifecycle.transition(portal, REJECT, uid, actor=actor, remote_addr=remote_addr) as step:
        reason = reason.strip()
        if refused := _reason_refused(reason):
            raise InvalidInput({"reason": refused})
        person = step.entry
        if not person.pending:
            raise WorkflowError(Text("%(uid)s is already being approved: if that approval stopped "
                                     "half-way, approve %(uid)s again to finish it", uid=uid))
        with _deciding(portal, person, REJECT.name, actor=actor) as mark_decided:
            portal.mailer.send(person.mail, "rejected", language=person.language,
                               uid=uid, display_name=person.display_name,
                               reason=reason)
            portal.directory.people.delete(uid)
            with portal.store.begin() as connection:
                step.record(connection, detail=reason)
                mark_decided(connection)


def reject_selected(portal: Portal, uids: Iterable[str], reason: str, *, actor: str,
                    remote_addr: str | None = None) -> list[Outcome]:
    """Reject each request with one reason, each as `reject` does (its own claim, mail and
    audit entry), so one decided meanwhile by someone else is decided once; one refused
    does not stop the others. The selection and the reason are checked before anyone is."""
    require_sysadmin(portal, actor)
    selected = list(dict.fromkeys(uids))
    errors: dict[str, str] = {}
    if not selected or len(selected) > MAX_SELECTED:
        errors["uid"] = Text("select 1 to %(most)d requests", most=MAX_SELECTED)
    if refused := _reason_refused(reason.strip()):
        errors["reason"] = refused
    if errors:
        raise InvalidInput(errors)
    outcomes = []
    for uid in selected:
        try:
            reject(portal, uid, reason, actor=actor, remote_addr=remote_addr)
        except (WorkflowError, DirectoryError, MailError) as error:
            outcomes.append(Outcome(uid, _said(error)))
        else:
            outcomes.append(Outcome(uid))
    return outcomes


def _said(error: Exception) -> str:
    """Why a request was not decided: the workflow's Text as it is, so the page translates it."""
    if isinstance(error, InvalidInput):
        reasons = list(error.errors.values())
        return reasons[0] if len(reasons) == 1 else "; ".join(reasons)
    return said_by(error)


def _reason_refused(reason: str) -> str | None:
    return None if 0 < len(reason) <= MAX_REASON else Text("say why, in 1 to %(most)d characters",
                                                            most=MAX_REASON)
