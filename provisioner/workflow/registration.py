"""Registration: a volunteer asks to join, proves their address, and waits for a sysadmin.

The public answer is the same whether or not the username or address was free,
so the form does not tell who is registered; the owner of the address learns
what happened by mail instead.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..directory import AlreadyExists, DirectoryError, NewPerson, NotFound, Person, Status
from ..languages import Text
from ..mail import MailError
from ..store import tokens
from . import lifecycle
from .context import Portal
from .errors import InvalidInput, LinkInvalid, WorkflowError
from .fields import (
    check_address,
    check_display_name,
    check_note,
    check_password,
    check_skills,
    check_username,
    normalise_display_name,
    personal_words,
)
from .lifecycle import EXPIRE, REGISTER, SUPERSEDE, VERIFY, TransitionRefused
from .limits import count_registration, mail_allowed
from .links import make_token, read_token
from .permissions import HOST_OPERATOR, Actor

AVAILABILITY = {
    "hour": Text("An hour"),
    "day": Text("A day"),
    "task": Text("A specific task"),
    "ongoing": Text("Ongoing"),
}
VERIFY_PURPOSE = "verify-email"
USED = Text("This link was used already: your address is confirmed.")


@dataclass(frozen=True)
class Registration:
    """What the volunteer typed. The password is used once and never kept."""

    uid: str
    display_name: str
    mail: str
    password: str = field(repr=False)
    groups: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    availability: str = ""
    note: str = ""
    language: str | None = None  # the page's, kept on the request and the account after it


class AddressTaken(WorkflowError):
    """An account or a verified request holds the address (answered by mail, never shown)."""


def validate(portal: Portal, registration: Registration) -> None:
    """Raise InvalidInput naming every refused field; checks nothing in the directory."""
    checks = {
        "uid": check_username(registration.uid),
        "display_name": check_display_name(normalise_display_name(registration.display_name)),
        "mail": check_address(registration.mail),
        "password": check_password(registration.password, personal_words(
            registration.uid, registration.mail, registration.display_name)),
        "groups": (None if all(slug in portal.catalogue for slug in registration.groups)
                   else Text("choose working groups from the list")),
        "skills": check_skills(registration.skills),
        "availability": (None if registration.availability in AVAILABILITY
                         else Text("choose how much time you can give")),
        "note": check_note(registration.note),
    }
    errors = {field: reason for field, reason in checks.items() if reason}
    if errors:
        raise InvalidInput(errors)


def register(portal: Portal, registration: Registration, *, remote_addr: str | None = None) -> None:
    """Create the pending request and mail a verification link.

    Raises InvalidInput for refused fields, DirectoryError or MailError when a back
    end fails; in those cases nothing is left behind. A username or address someone
    holds is answered by mail to the address, with the same public answer.
    """
    validate(portal, registration)
    count_registration(portal, remote_addr=remote_addr)  # TooManyAttempts past the hourly limit
    if not mail_allowed(portal, registration.mail, purpose="registration", remote_addr=remote_addr):
        return  # the same answer as ever; the owner of the address got mails enough this hour
    people = portal.directory.people
    holder = _holder_of(people.with_mail(registration.mail))
    try:
        # Not read first: the add is refused for a uid anyone has (its DN, or the unique
        # overlay), which the table refuses too; one search fewer a registration.
        with lifecycle.transition(portal, REGISTER, registration.uid, actor=None,
                                  remote_addr=remote_addr, person=None) as step:
            if holder is not None:
                raise AddressTaken(f"the address of {registration.uid}'s request is {holder.uid}'s")
            person = _add_request(portal, registration)
            try:
                people.set_password(person, registration.password)
                token = make_token(portal.secret_key, VERIFY_PURPOSE,
                                   {"uid": person.uid, "mail": person.mail, "entry": person.entry_id},
                                   portal.clock())
                portal.mailer.send(person.mail, "verify", language=person.language, uid=person.uid,
                                   display_name=person.display_name, hours=portal.verify_link_hours,
                                   link=portal.link(f"/verify/{token}"))
            except (DirectoryError, MailError):
                _remove_quietly(portal, person.uid)
                raise
            with portal.store.begin() as connection:
                step.record(connection,
                            detail="working groups: " + (", ".join(person.requested_groups) or "none"))
    except (TransitionRefused, AddressTaken):
        _answer_taken(portal, registration, holder or _holder_of(people.with_mail(registration.mail)))
        portal.audit("registration-refused", subject=registration.uid, remote_addr=remote_addr,
                     detail="username or address already taken")


def _add_request(portal: Portal, registration: Registration) -> Person:
    """The pending entry; TransitionRefused when anyone has the uid, even a moment ago, from
    the state of whoever has it (read only then)."""
    people = portal.directory.people
    try:
        return people.add(NewPerson(
            uid=registration.uid, display_name=normalise_display_name(registration.display_name),
            mail=registration.mail, status=REGISTER.target_status,
            requested_groups=tuple(dict.fromkeys(registration.groups)),
            skills=tuple(skill.strip() for skill in registration.skills if skill.strip()),
            availability=registration.availability, note=registration.note.strip() or None,
            language=registration.language,
        ))
    except AlreadyExists:
        lifecycle.check(REGISTER, registration.uid, people.find(registration.uid), portal=portal)
        raise TransitionRefused(f"{registration.uid} is taken: cannot register") from None


def _holder_of(people: list[Person]) -> Person | None:
    """Who owns an address: an account or a verified request. Requests not verified yet
    prove nothing, so they never keep the address's owner from registering."""
    return next((person for person in people if _proves_ownership(person)), None)


def _proves_ownership(person: Person) -> bool:
    return not (person.pending and person.status == Status.UNVERIFIED)


def _answer_taken(portal: Portal, registration: Registration, holder: Person | None) -> None:
    if holder is not None:  # the mail goes to the address that holder proved is theirs
        portal.mailer.send(registration.mail, "address_taken", language=registration.language, uid=holder.uid,
                           reset_link=portal.link("/reset"))
    else:
        portal.mailer.send(registration.mail, "username_taken", language=registration.language,
                           uid=registration.uid,
                           display_name=registration.display_name,
                           register_link=portal.link("/register"))


def _remove_quietly(portal: Portal, uid: str) -> None:
    """Undo a half-made request; if the directory is gone too, purge-expired removes it."""
    with suppress(DirectoryError):
        portal.directory.people.delete(uid)


def verify_email(portal: Portal, token: str, *, remote_addr: str | None = None) -> str:
    """Mark the request verified; return its uid. LinkInvalid for a bad, old or used link."""
    now = portal.clock()
    payload = read_token(portal.secret_key, VERIFY_PURPOSE, token,
                         max_age=timedelta(hours=portal.verify_link_hours), now=now)
    people = portal.directory.people
    person = people.find(str(payload.get("uid", "")))
    if (person is None or person.mail != payload.get("mail")
            or person.entry_id != payload.get("entry")):
        raise LinkInvalid(Text("This link no longer matches a registration request."))
    try:
        with lifecycle.transition(portal, VERIFY, person.uid, actor=person.uid, remote_addr=remote_addr,
                                  person=person) as step:
            others = [other for other in people.with_mail(person.mail) if other.uid != person.uid]
            if any(_proves_ownership(other) for other in others):
                raise LinkInvalid(Text("This address was confirmed for another username already."))
            with portal.store.begin() as connection:
                if not tokens.mark_used(connection, token, VERIFY_PURPOSE, now):
                    raise LinkInvalid(USED)
                people.set_status(person.uid, VERIFY.target_status)
                step.record(connection)
    except TransitionRefused:  # the same entry, past unverified: this link did it
        raise LinkInvalid(USED) from None
    for other in others:  # the address's owner chose this request: the others were not theirs
        with suppress(NotFound), lifecycle.transition(portal, SUPERSEDE, other.uid, actor=person.uid,
                                                      remote_addr=remote_addr, person=other) as step:
            people.delete(other.uid)
            with portal.store.begin() as connection:
                step.record(connection, detail=f"its address was confirmed for {person.uid}")
    return person.uid


def purge_expired(portal: Portal, *, now: datetime | None = None,
                  actor: Actor = HOST_OPERATOR) -> list[str]:
    """Delete unverified requests older than the link lifetime; return their uids."""
    now = now or portal.clock()
    cutoff = now - timedelta(hours=portal.verify_link_hours)
    purged = []
    people = portal.directory.people
    for person in people.with_status(Status.UNVERIFIED, pending_only=True, created_before=cutoff):
        with lifecycle.transition(portal, EXPIRE, person.uid, actor=actor, person=person) as step:
            people.delete(person.uid)
            with portal.store.begin() as connection:
                step.record(connection, detail="not verified in time")
        purged.append(person.uid)
    with portal.store.begin() as connection:
        tokens.forget_used_before(connection, cutoff)
    return purged
