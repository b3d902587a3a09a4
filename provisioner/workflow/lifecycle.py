"""The account lifecycle: every status and every transition between them, in one table.

Each workflow function that changes a person's status runs inside
`transition(portal, TRANSITION, uid, actor=...)`, as Mailman's subscription
workflow runs named steps. Before anything is done it checks who acts (the
table's `who`, permissions.py) and that the table allows this transition from the
person's status; a transition not in the table is refused with TransitionRefused
("vera is suspended: cannot approve") and nothing is changed. The function then
does its own steps, each checking before it acts so that calling again completes
a call cut short, and writes the table's audit action with `step.record(connection)`
in the transaction that commits the transition's effect in the store (the job, the
decision, the used link). Each attempt logs one line (logger provisioner.workflow).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from sqlalchemy.engine import Connection

from ..directory import Person, Status
from ..directory.layout import UID_PATTERN
from ..languages import Text
from ..store import audit, decisions
from .context import Portal
from .errors import WorkflowError
from .permissions import Actor, HostOperator, NotAllowed, Role, require

# One line per transition attempt, key=value like provisioner.worker's: the transition,
# who acted, whose entry, the status found and the outcome. Never a password, a link,
# an address or anything a person typed (a reason, a note): uids and status names only.
log = logging.getLogger("provisioner.workflow")

NOBODY = None   # as a source: no entry has this uid
GONE = None     # as a target: the entry is deleted


@dataclass(frozen=True)
class State:
    described: Text       # in refusals: "vera is <described>: cannot approve"
    locked: bool = False  # ppolicy keeps the entry locked: no bind here or in any service


STATES: dict[Status | None, State] = {
    NOBODY: State(Text("not registered")),
    Status.UNVERIFIED: State(Text("not verified yet")),       # a request in ou=pending
    Status.VERIFIED: State(Text("waiting for approval")),     # in ou=pending, or ou=people while approved
    Status.ACTIVE: State(Text("active")),                     # an account; may log in (permissions.py)
    Status.SUSPENDED: State(Text("suspended"), locked=True),  # an account, locked, its access revoked
    Status.EXPIRED: State(Text("expired"), locked=True),      # past its end date: locked, access revoked
}


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[Status | None]
    target: Status | None
    audit_action: str
    who: Role

    def allowed_from(self, person: Person | None) -> bool:
        if person is None:
            return NOBODY in self.sources
        return person.status is not None and person.status in self.sources

    @property
    def from_requests(self) -> bool:
        """Whether it starts only from registration requests (ou=pending, until approved)."""
        return self.sources <= {Status.UNVERIFIED, Status.VERIFIED}

    @property
    def target_status(self) -> Status:
        """The status this transition sets; one that deletes the entry (to GONE) sets none."""
        if self.target is None:
            raise TypeError(f"{self.name} deletes the entry: it sets no status")
        return self.target


def _row(name: str, sources: set[Status | None], target: Status | None, audit_action: str,
         who: Role) -> Transition:
    return Transition(name, frozenset(sources), target, audit_action, who)


UNVERIFIED, VERIFIED, ACTIVE, SUSPENDED, EXPIRED = (Status.UNVERIFIED, Status.VERIFIED, Status.ACTIVE,
                                                    Status.SUSPENDED, Status.EXPIRED)
TRANSITIONS: dict[str, Transition] = {row.name: row for row in (
    #     name            from                 to          audit action          who may
    _row("register",     {NOBODY},            UNVERIFIED, "registered",         Role.ANYONE),
    _row("verify",       {UNVERIFIED},        VERIFIED,   "email-verified",     Role.LINK_HOLDER),
    # Verifying a request removes the other unverified requests with its address.
    _row("supersede",    {UNVERIFIED},        GONE,       "request-superseded", Role.LINK_HOLDER),
    _row("expire",       {UNVERIFIED},        GONE,       "request-expired",    Role.HOST_OPERATOR),
    _row("approve",      {VERIFIED},          ACTIVE,     "approved",           Role.SYSADMIN),
    _row("reject",       {VERIFIED},          GONE,       "rejected",           Role.SYSADMIN),
    _row("suspend",      {ACTIVE},            SUSPENDED,  "suspended",          Role.SYSADMIN),
    _row("reinstate",    {SUSPENDED},         ACTIVE,     "reinstated",         Role.SYSADMIN),
    # The holder deletes their own account: access revoked, entry removed, audit pseudonymised.
    _row("delete",       {ACTIVE},            GONE,       "account-deleted",    Role.ACCOUNT_HOLDER),
    # From active too: running create-admin again completes a run cut short.
    _row("create-admin", {NOBODY, ACTIVE},    ACTIVE,     "sysadmin-created",   Role.HOST_OPERATOR),
    # An invitation's link proves the address and the inviter approved: an account at once.
    _row("accept-invitation", {NOBODY},       ACTIVE,     "invitation-accepted", Role.LINK_HOLDER),
    # An account past its end date (`provisioner expire`), and its renewal (end_dates.py).
    _row("expire-account", {ACTIVE},          EXPIRED,    "account-expired",    Role.HOST_OPERATOR),
    _row("renew",        {EXPIRED},           ACTIVE,     "account-renewed",    Role.COORDINATOR),
)}
REGISTER, VERIFY, SUPERSEDE, EXPIRE = (TRANSITIONS[name] for name in (
    "register", "verify", "supersede", "expire"))
APPROVE, REJECT, SUSPEND, REINSTATE, CREATE_ADMIN, DELETE = (TRANSITIONS[name] for name in (
    "approve", "reject", "suspend", "reinstate", "create-admin", "delete"))
ACCEPT_INVITATION = TRANSITIONS["accept-invitation"]
EXPIRE_ACCOUNT, RENEW = TRANSITIONS["expire-account"], TRANSITIONS["renew"]
# Decisions on requests are claimed once (store/decisions.py) under these names.
DECIDED = {APPROVE.name: "approved", REJECT.name: "rejected"}
_ALREADY = {(APPROVE.name, True): Text("already approved"),
            (APPROVE.name, False): Text("already being approved"),
            (REJECT.name, True): Text("already rejected"),
            (REJECT.name, False): Text("already being rejected")}
# Each transition in a refusal's words ("vera is suspended: cannot approve"): its name in
# English, literal here so that the catalogue has each.
ACTIONS = {"register": Text("register"), "verify": Text("verify"), "supersede": Text("supersede"),
           "expire": Text("expire"), "approve": Text("approve"), "reject": Text("reject"),
           "suspend": Text("suspend"), "reinstate": Text("reinstate"), "delete": Text("delete"),
           "create-admin": Text("create-admin"), "accept-invitation": Text("accept-invitation"),
           "expire-account": Text("expire-account"), "renew": Text("renew")}


class TransitionRefused(WorkflowError):
    """The table has no such transition from the person's status; nothing was changed.
    `found` names that status for the log, when the refusal read it after the transition
    began (a registration learns the uid is taken from slapd's refusal)."""

    def __init__(self, message: str, *, found: str | None = None):
        super().__init__(message)
        self.found = found


def check(what: Transition, uid: str, person: Person | None, *,
          portal: Portal | None = None) -> None:
    """TransitionRefused unless the table allows `what` from `person`'s status."""
    if not what.allowed_from(person):
        raise TransitionRefused(Text("%(uid)s is %(state)s: cannot %(action)s", uid=uid,
                                     state=_described(portal, uid, person), action=ACTIONS[what.name]),
                                found=_status_name(person))


def _described(portal: Portal | None, uid: str, person: Person | None) -> Text:
    if person is None and portal is not None:
        # A rejection deletes the request, then marks its claim decided: whether it is under
        # way or done, say so rather than "not registered".
        with portal.store.begin() as connection:
            claim = decisions.latest_claim(connection, uid)
        if claim is not None and claim.decision in DECIDED:
            return _ALREADY[claim.decision, claim.decided]
    if person is not None and person.status is None:
        return Text("without a status")
    return STATES[person.status if person else NOBODY].described


@dataclass
class Step:
    """A transition under way: what the function needs to finish it and audit it."""

    transition: Transition
    uid: str
    person: Person | None            # as read when the transition started
    actor: Actor | None
    remote_addr: str | None
    _portal: Portal = field(repr=False)
    recorded: bool = False

    def record(self, connection: Connection, *, detail: str | None = None,
               pseudonym: str | None = None) -> None:
        """Write the transition's audit entry in the caller's transaction; with `pseudonym`,
        under it instead of the uid (as actor too when they act on themselves), and without
        the client address: the entry of an account deleted."""
        actor = pseudonym if pseudonym and self.actor == self.uid else self.actor
        audit.record(connection, at=self._portal.clock(), action=self.transition.audit_action,
                     actor=actor, subject=pseudonym or self.uid, detail=detail,
                     remote_addr=None if pseudonym else self.remote_addr)
        self.recorded = True

    def recorded_earlier(self) -> None:
        """A call completing one cut short after its audit entry was committed: none again."""
        self.recorded = True

    @property
    def entry(self) -> Person:
        """The person as read, for a transition that starts from an entry: the table allows
        it from no other, so only one from NOBODY (register, create-admin) may find none."""
        if self.person is None:
            raise TypeError(f"{self.transition.name} of {self.uid} started from no entry")
        return self.person


class _Unread(Enum):
    UNREAD = "unread"


_UNREAD = _Unread.UNREAD  # `transition` reads the entry itself


@contextmanager
def transition(portal: Portal, what: Transition, uid: str, *, actor: Actor | None,
               remote_addr: str | None = None,
               person: Person | None | Literal[_Unread.UNREAD] = _UNREAD,
               ) -> Iterator[Step]:
    """Run the transition `what` of `uid`'s entry: NotAllowed or TransitionRefused before anything
    is done, else the block runs with a Step, whose `record` the block must call.

    `person` is the entry the caller has just read, if it has; otherwise it is read here.
    """
    found = "-"
    try:
        require(portal, what.who, actor, subject=uid)
        if person is _UNREAD:
            person = portal.directory.people.find(uid, request_first=what.from_requests)
        found = _status_name(person)
        check(what, uid, person, portal=portal)
        step = Step(what, uid, person, actor, remote_addr, portal)
        yield step
        if not step.recorded:
            raise RuntimeError(f"{what.name} of {uid} ended without its audit entry")
    except Exception as error:
        refused = isinstance(error, WorkflowError | NotAllowed)
        if isinstance(error, TransitionRefused) and error.found:
            found = error.found
        (log.info if refused else log.warning)(
            "transition=%s actor=%s subject=%s from=%s outcome=%s error=%s", what.name,
            _actor_name(actor), _uid_name(uid), found, "refused" if refused else "failed",
            type(error).__name__)
        raise
    log.info("transition=%s actor=%s subject=%s from=%s to=%s outcome=done", what.name,
             _actor_name(actor), _uid_name(uid), found,
             what.target if what.target else "deleted")


def _status_name(person: Person | None) -> str:
    if person is None:
        return "none"
    return str(person.status) if person.status else "unknown"


def _uid_name(uid: object) -> str:
    """A uid as the log may show it; anything else someone typed is left out."""
    return uid if isinstance(uid, str) and UID_PATTERN.fullmatch(uid) else "-"


def _actor_name(actor: Actor | None) -> str:
    return "command-line" if isinstance(actor, HostOperator) else _uid_name(actor)
