"""Renewal: a volunteer asks for a new end date, the coordinators of their groups decide.

The volunteer asks through the signed link of the reminder or the ending mail (bound to
their uid and end date: a link for an end date changed since is refused), or from their
account page while it is active. One request is open per person (the store's partial
unique index): asking again finds the open one. It is mailed to the coordinators of their
working groups, or to the sysadmins when those groups have none. Renewing sets the new
end date (end_dates.set_end_date: for an expired account, the lifecycle's `renew`);
declining mails the reason. A renewal is claimed in the store before the directory
changes and reopened if a step fails, so renewing again completes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ..directory import SYSADMINS_GROUP, Person, Status
from ..languages import Text
from ..mail import MailError
from ..store import renewal_requests as store
from ..store.renewal_requests import DECLINED, OPEN, RENEWED, RenewalRequest
from .context import Portal
from .end_dates import RENEWAL_PURPOSE, account_with_term, check_new_end_date, set_end_date
from .errors import InvalidInput, LinkInvalid, WorkflowError
from .links import read_token
from .memberships import DECISIONS_PAGE
from .permissions import (
    Actor,
    Role,
    active_person,
    acts_as_sysadmin,
    has_open_account,
    require,
    require_coordinator_of,
)

MAX_NOTE = 500
MAX_REASON = 2000
CHANGED = Text("This link is for an end date that has changed since: log in to see your account, "
               "or ask your working groups' coordinators.")
DECIDED_MEANWHILE = Text("%(uid)s's renewal request was decided meanwhile by someone else.")
# A request no longer open, by how it was decided; the values are filled in.
DECIDED_ALREADY = {RENEWED: Text("%(uid)s's renewal request was renewed already, by %(decider)s."),
                   DECLINED: Text("%(uid)s's renewal request was declined already, by %(decider)s.")}


@dataclass(frozen=True)
class RenewalToDecide:
    request: RenewalRequest
    person: Person | None       # None when the account is gone


def check_renewal_link(portal: Portal, token: str) -> Person:
    """The account the link is for, while its end date is still the one the link names."""
    payload = read_token(portal.secret_key, RENEWAL_PURPOSE, token,
                         max_age=timedelta(days=portal.terms.renewal_link_days), now=portal.clock())
    uid, end = payload.get("uid"), payload.get("end")
    person = portal.directory.people.find(uid) if isinstance(uid, str) else None
    if (person is None or person.pending or person.status not in (Status.ACTIVE, Status.EXPIRED)
            or person.end_date is None or person.end_date.isoformat() != end):
        raise LinkInvalid(CHANGED)
    return person


def request_renewal_by_link(portal: Portal, token: str, note: str, *,
                            remote_addr: str | None = None) -> tuple[RenewalRequest, bool]:
    """(request, True) when asked now, (the open one, False) when one waits already."""
    person = check_renewal_link(portal, token)
    return _open(portal, person, note, remote_addr)


def request_renewal(portal: Portal, uid: str, note: str, *, actor: Actor,
                    remote_addr: str | None = None) -> tuple[RenewalRequest, bool]:
    """From the account page: the holder of an active account with an end date."""
    require(portal, Role.ACCOUNT_HOLDER, actor, subject=uid)
    person = active_person(portal, uid)
    if person is None or person.end_date is None:
        raise WorkflowError(Text("Only an active account with an end date can be renewed."))
    return _open(portal, person, note, remote_addr)


def _open(portal: Portal, person: Person, note: str, remote_addr: str | None) -> tuple[RenewalRequest, bool]:
    note = (note or "").strip()
    if len(note) > MAX_NOTE or not all(ch.isprintable() or ch in "\r\n" for ch in note):
        raise InvalidInput({"note": Text("at most %(most)d characters, without control characters",
                                         most=MAX_NOTE)})
    deciders = _deciders(portal, person)   # read first: a directory failure stores nothing
    with portal.store.begin() as connection:
        request, made = store.open_request(connection, person.uid, person.end_date, note or None,
                                           now=portal.clock())
    if made:
        portal.audit("renewal-requested", actor=person.uid, subject=person.uid, remote_addr=remote_addr,
                     detail=f"end date {person.end_date.isoformat() if person.end_date else 'none'}")
        _tell_deciders(portal, person, deciders)
    return request, made


def _deciders(portal: Portal, person: Person) -> dict[str, tuple[Person, str | None]]:
    """Whom a renewal request is mailed to: the coordinators of the person's working groups
    with an open account, or the sysadmins when there are none; uid -> (person, the working
    group they coordinate, or None for a sysadmin)."""
    layout = portal.directory.layout
    names = [name for dn in person.member_of if (name := layout.group_name(dn)) and name.startswith("wg-")]
    owners = portal.directory.groups.owners_of(names)
    coordinators: dict[str, str | None] = {uid: _group_title(portal, name)
                                           for name, uids in sorted(owners.items()) for uid in uids}
    sysadmins: dict[str, str | None] = dict.fromkeys(portal.directory.groups.get(SYSADMINS_GROUP).members)
    for roles in (coordinators, sysadmins):
        people = portal.directory.people.find_many(sorted(set(roles) - {person.uid}))
        found = {uid: (found, roles[uid]) for uid, found in people.items() if has_open_account(found)}
        if found:
            return found
    return {}


def _group_title(portal: Portal, name: str) -> str:
    group = portal.catalogue.get(name.removeprefix("wg-"))
    return group.name if group else name


def _tell_deciders(portal: Portal, person: Person, deciders: dict[str, tuple[Person, str | None]]) -> None:
    for uid, (recipient, coordinated) in deciders.items():
        try:
            portal.mailer.send(recipient.mail, "renewal_request", language=recipient.language,
                               display_name=recipient.display_name,
                               requester_name=person.display_name, requester_uid=person.uid,
                               end_date=person.end_date, expired=person.status == Status.EXPIRED,
                               coordinated=coordinated, link=portal.link(DECISIONS_PAGE))
        except MailError as error:
            portal.audit("mail-failed", subject=person.uid, detail=f"renewal request to {uid}: {error}")


def renewals_to_decide(portal: Portal, actor: Actor) -> list[RenewalToDecide]:
    """Open renewal requests `actor` decides: of their groups' members (everyone's for a sysadmin)."""
    sysadmin = acts_as_sysadmin(portal, actor)
    with portal.store.begin() as connection:
        requests = store.open_for(connection, None)
    people = portal.directory.people.find_many(sorted({request.uid for request in requests}))
    if not sysadmin:
        owned = set(portal.directory.groups.owned_by(actor)) if active_person(portal, actor) else set()
        layout = portal.directory.layout
        people = {uid: person for uid, person in people.items()
                  if owned & {layout.group_name(dn) for dn in person.member_of}}
        requests = [request for request in requests if request.uid in people]
    return [RenewalToDecide(request, people.get(request.uid)) for request in requests]


def _open_request(portal: Portal, request_id: int) -> RenewalRequest:
    with portal.store.begin() as connection:
        request = store.get(connection, request_id)
    if request is None:
        raise WorkflowError(Text("There is no such renewal request."))
    if request.state != OPEN:
        raise WorkflowError(Text(DECIDED_ALREADY[request.state].msgid, uid=request.uid,
                                 decider=request.decided_by))
    return request


def renew(portal: Portal, request_id: int, end_date: date | None, *, actor: Actor,
          remote_addr: str | None = None) -> RenewalRequest:
    """Renew: the new end date (None: none, sysadmins only); an expired account is active again."""
    request = _open_request(portal, request_id)
    person = account_with_term(portal, request.uid)
    check_new_end_date(portal, actor, person, end_date)
    with portal.store.begin() as connection:
        if not store.decide(connection, request.id, RENEWED, by=actor, at=portal.clock(),
                            new_end_date=end_date):
            raise WorkflowError(Text(DECIDED_MEANWHILE.msgid, uid=request.uid))
    try:
        restored = set_end_date(portal, request.uid, end_date, actor=actor, remote_addr=remote_addr,
                                detail=f", renewal request {request.id}")
    except BaseException:
        with portal.store.begin() as connection:
            store.reopen(connection, request.id)
        raise
    _tell(portal, person, "account_renewed", end_date=end_date,
          restored=restored, login_link=portal.link("/login"))
    return _decided(portal, request.id)


def decline_renewal(portal: Portal, request_id: int, reason: str, *, actor: Actor,
                    remote_addr: str | None = None) -> RenewalRequest:
    """Close the request unrenewed; the volunteer is mailed the reason."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInput({"reason": Text("say why, in 1 to %(most)d characters", most=MAX_REASON)})
    request = _open_request(portal, request_id)
    require_coordinator_of(portal, actor, request.uid)   # who may renew may decline
    with portal.store.begin() as connection:
        if not store.decide(connection, request.id, DECLINED, by=actor, at=portal.clock(), reason=reason):
            raise WorkflowError(Text(DECIDED_MEANWHILE.msgid, uid=request.uid))
    portal.audit("renewal-declined", actor=actor, subject=request.uid, remote_addr=remote_addr,
                 detail=reason)
    person = portal.directory.people.find(request.uid)
    if person is not None:
        _tell(portal, person, "renewal_declined", reason=reason)
    return _decided(portal, request.id)


def _tell(portal: Portal, person: Person, template: str, **context: object) -> None:
    try:
        portal.mailer.send(person.mail, template, language=person.language,
                           display_name=person.display_name, uid=person.uid,
                           **context)
    except MailError as error:
        portal.audit("mail-failed", subject=person.uid, detail=f"{template}: {error}")


def _decided(portal: Portal, request_id: int) -> RenewalRequest:
    with portal.store.begin() as connection:
        request = store.get(connection, request_id)
    assert request is not None   # requests are kept, never deleted
    return request
