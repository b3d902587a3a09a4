"""Joining and leaving working groups and their teams, by the volunteers themselves.

A volunteer asks to join; the group's coordinators (the `owner`s of its LDAP
group) and the sysadmins are mailed, and one of them approves or declines.
Approving adds the LDAP membership and queues a grant. Leaving needs nobody's
approval: the membership goes at once and a revoke is queued.

A team (a qualified slug, `<wg>.<team>`) is joined the same way, by a member of its
working group only; its coordinators decide, or when it has none its working group's,
and the sysadmins. Leaving a working group leaves its teams too, in the same revoke.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalogue import TEAM_JOINER, Group, Team, WorkingGroup
from ..directory import SYSADMINS_GROUP, Person
from ..jobs import GRANT, REVOKE
from ..languages import Text
from ..mail import MailError
from ..store import group_requests
from ..store.group_requests import APPROVED, DECLINED, JoinRequest
from ..teams import read_teams, resolve, slugs_of
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .permissions import NotAllowed, active_person, has_open_account, is_sysadmin

MAX_REASON = 2000
DECISIONS_PAGE = "/groups/requests"
MY_GROUPS_PAGE = "/account/groups"
ONLY_DECIDERS = Text("Only coordinators and sysadmins decide join requests.")
DECIDED_MEANWHILE = Text("%(uid)s's request was decided meanwhile by someone else.")
# A request no longer open, by how it was decided; the values are filled in.
DECIDED_ALREADY = {APPROVED: Text("%(uid)s's request to join %(name)s was approved already, by %(decider)s."),
                   DECLINED: Text("%(uid)s's request to join %(name)s was declined already, by %(decider)s.")}


@dataclass(frozen=True)
class MyGroups:
    """A volunteer's standing with each working group of the catalogue."""

    member: list[WorkingGroup]
    requested: list[WorkingGroup]   # an open request waits for a decision
    others: list[WorkingGroup]
    history: list[JoinRequest]      # their requests, newest first
    # the teams of the working groups they are in, by working group's slug; and the
    # (qualified) slugs of the teams they are in, and of those they asked to join
    teams: dict[str, list[Team]]
    in_teams: set[str]
    team_requests: set[str]
    coordinates: set[str]           # the working groups they coordinate (may create teams in)

    def name_of(self, slug: str) -> str:
        """A request's group as the page names it (the slug when it is gone)."""
        every: list[Group] = [*self.member, *self.requested, *self.others,
                              *(team for teams in self.teams.values() for team in teams)]
        group = next((group for group in every if group.slug == slug), None)
        return group.title if group else slug


@dataclass(frozen=True)
class RequestToDecide:
    request: JoinRequest
    group: Group | None             # None when the catalogue or the directory no longer holds it
    person: Person | None           # None when the account is gone


def working_group(portal: Portal, slug: object) -> WorkingGroup:
    """The catalogue's group for `slug`; anything else is refused before the directory is asked."""
    group = portal.catalogue.get(slug) if isinstance(slug, str) else None
    if group is None:
        raise InvalidInput({"group": Text("there is no such working group in the catalogue")})
    return group


def any_group(portal: Portal, slug: object) -> Group:
    """The working group of `slug`, or the team of a qualified slug (read from the directory)."""
    if isinstance(slug, str) and "." not in slug:
        return working_group(portal, slug)
    group = resolve(portal.catalogue, read_teams(portal.directory, portal.catalogue), slug)
    if group is None:
        raise InvalidInput({"group": Text("there is no such team")})
    return group


def groups_of(portal: Portal, uid: str) -> list[str]:
    """Slugs of the working groups and qualified slugs of the teams this person is in:
    what their grant or revoke of everything names."""
    return slugs_of(portal.directory.groups.of(uid), portal.catalogue)


def working_groups_of(portal: Portal, uid: str) -> list[str]:
    """Slugs of the catalogue's working groups this person is a member of."""
    names = portal.directory.groups.of(uid)
    return [name.removeprefix("wg-") for name in names
            if name.startswith("wg-") and name.removeprefix("wg-") in portal.catalogue]


def coordinated_groups(portal: Portal, uid: str) -> list[str]:
    """Slugs of the catalogue's working groups this person coordinates (is an `owner` of)."""
    names = portal.directory.groups.owned_by(uid)
    return [name.removeprefix("wg-") for name in names
            if name.startswith("wg-") and name.removeprefix("wg-") in portal.catalogue]


def coordinates_any(portal: Portal, uid: str) -> bool:
    """Whether this person coordinates a working group or a team."""
    return bool(slugs_of(portal.directory.groups.owned_by(uid), portal.catalogue))


def groups_decided_by(portal: Portal, person: Person) -> list[str]:
    """The slugs whose join requests this person decides: every group and team for a
    sysadmin; for a coordinator their working groups, the teams they coordinate, and the
    teams of their working groups that have no coordinator of their own."""
    teams = read_teams(portal.directory, portal.catalogue)
    if is_sysadmin(portal, person):
        return [group.slug for group in portal.catalogue] + sorted(teams)
    owned = slugs_of(portal.directory.groups.owned_by(person.uid), portal.catalogue)
    working_groups = [slug for slug in owned if "." not in slug]
    owners = portal.directory.groups.owners_of(
        team.group for team in teams.values() if team.parent.slug in working_groups)
    orphans = [team.slug for team in teams.values()
               if team.parent.slug in working_groups and not owners.get(team.group)]
    return sorted(set(owned) | set(orphans))


def team_deciders(portal: Portal, group: Group) -> set[str]:
    """Who is mailed a join request besides the sysadmins: the group's coordinators, or for
    a team with none, its working group's."""
    coordinators = set(portal.directory.groups.get(group.group).owners)
    if not coordinators and group.parent is not None:
        coordinators = set(portal.directory.groups.get(group.parent.group).owners)
    return coordinators


def my_groups(portal: Portal, uid: str) -> MyGroups:
    everything = set(groups_of(portal, uid))
    member = {slug for slug in everything if "." not in slug}
    with portal.store.begin() as connection:
        history = group_requests.of_person(connection, uid)
    requested = {request.slug for request in history if request.state == group_requests.OPEN}
    teams: dict[str, list[Team]] = {}
    for team in read_teams(portal.directory, portal.catalogue).values():
        if team.parent.slug in member:
            teams.setdefault(team.parent.slug, []).append(team)
    return MyGroups(
        teams=teams, in_teams=everything - member, coordinates=set(coordinated_groups(portal, uid)),
        team_requests={slug for slug in requested if "." in slug and slug not in everything},
        member=[group for group in portal.catalogue if group.slug in member],
        requested=[group for group in portal.catalogue
                   if group.slug in requested and group.slug not in member],
        others=[group for group in portal.catalogue
                if group.slug not in member and group.slug not in requested],
        history=history,
    )


def request_to_join(portal: Portal, uid: str, slug: object, *,
                    remote_addr: str | None = None) -> tuple[JoinRequest, bool]:
    """Open a request to join; (request, True) when made now, (the open one, False) if one waits.

    A new request is mailed to the group's coordinators and to the sysadmins.
    """
    group = any_group(portal, slug)
    person = active_person(portal, uid)
    if person is None:
        raise WorkflowError(Text("Only an active account can join a working group."))
    theirs = groups_of(portal, uid)
    if group.slug in theirs:
        raise WorkflowError(Text("You are already in %(name)s.", name=group.title))
    if group.parent is not None and group.parent.slug not in theirs:
        raise WorkflowError(Text("Only members of %(name)s can join its teams: join %(name)s first.",
                                 name=group.parent.name))
    # Read before anything is stored: a group missing from the directory is refused whole.
    coordinators = team_deciders(portal, group)
    with portal.store.begin() as connection:
        request, made = group_requests.open_request(connection, person.uid, group.slug,
                                                    now=portal.clock())
    if made:
        portal.audit("join-requested", actor=person.uid, subject=person.uid,
                     remote_addr=remote_addr, detail=group.slug)
        _tell_deciders(portal, person, group, coordinators)
    return request, made


def _tell_deciders(portal: Portal, person: Person, group: Group, coordinators: set[str]) -> None:
    """One mail to each coordinator and sysadmin; a failed mail is audited and the rest still go."""
    directory = portal.directory
    sysadmins = set(directory.groups.get(SYSADMINS_GROUP).members)
    people = directory.people.find_many(sorted((coordinators | sysadmins) - {person.uid}))
    # a team without coordinators of its own is decided by its working group's
    deciding = group if group.parent is None or coordinators & set(directory.groups.get(group.group).owners) \
        else group.parent
    for uid, recipient in people.items():
        if not has_open_account(recipient):
            continue
        try:
            portal.mailer.send(recipient.mail, "join_request", language=recipient.language,
                               display_name=recipient.display_name,
                               requester_name=person.display_name, requester_uid=person.uid,
                               group=group.title, coordinated=deciding.title if uid in coordinators else None,
                               link=portal.link(DECISIONS_PAGE))
        except MailError as error:
            portal.audit("mail-failed", subject=person.uid,
                         detail=f"join request for {group.slug} to {uid}: {error}")


def requests_to_decide(portal: Portal, actor: str) -> list[RequestToDecide]:
    """Open requests for the groups `actor` coordinates (all groups for a sysadmin), oldest first."""
    decider = active_person(portal, actor)
    if decider is None:
        raise NotAllowed(ONLY_DECIDERS)
    slugs = groups_decided_by(portal, decider)
    if not slugs:
        raise NotAllowed(ONLY_DECIDERS)
    with portal.store.begin() as connection:
        requests = group_requests.open_for(connection, None if is_sysadmin(portal, decider) else slugs)
    people = portal.directory.people.find_many(sorted({request.uid for request in requests}))
    teams = read_teams(portal.directory, portal.catalogue)
    return [RequestToDecide(request, resolve(portal.catalogue, teams, request.slug), people.get(request.uid))
            for request in requests]


def _request_for(portal: Portal, request_id: int, actor: str, verb: str, *,
                 remote_addr: str | None) -> JoinRequest:
    """The open request, once `actor` is known to decide for its group."""
    with portal.store.begin() as connection:
        request = group_requests.get(connection, request_id)
    if request is None:
        raise WorkflowError(Text("There is no such request."))
    decider = active_person(portal, actor)
    if decider is None or request.slug not in groups_decided_by(portal, decider):
        portal.audit("join-decision-refused", actor=actor, subject=request.uid,
                     remote_addr=remote_addr, detail=f"tried to {verb} a request for {request.slug}")
        raise NotAllowed(Text("Only the group's coordinators and the sysadmins decide this request."))
    if request.state != group_requests.OPEN:
        raise WorkflowError(Text(DECIDED_ALREADY[request.state].msgid, uid=request.uid,
                                 name=request.slug, decider=request.decided_by))
    return request


def _as_decided(portal: Portal, request_id: int) -> JoinRequest:
    """The request as it is once decided (requests are kept, never deleted)."""
    with portal.store.begin() as connection:
        request = group_requests.get(connection, request_id)
    if request is None:
        raise WorkflowError(Text("There is no such request."))
    return request


def approve_join(portal: Portal, request_id: int, *, actor: str,
                 remote_addr: str | None = None) -> JoinRequest:
    """Add the membership and queue a grant; the volunteer is mailed."""
    request = _request_for(portal, request_id, actor, "approve", remote_addr=remote_addr)
    group = resolve(portal.catalogue, read_teams(portal.directory, portal.catalogue), request.slug)
    if group is None:
        raise WorkflowError(Text("%(name)s is no longer in the catalogue: decline the request.",
                                 name=request.slug))
    person = active_person(portal, request.uid)
    if person is None:
        raise WorkflowError(Text("%(uid)s has no active account now: decline the request.", uid=request.uid))
    if group.parent is not None and group.parent.slug not in groups_of(portal, person.uid):
        raise WorkflowError(Text("%(uid)s is no longer in %(name)s: decline the request.",
                                 uid=request.uid, name=group.parent.name))
    # Claimed first, so a coordinator declining at the same moment cannot be overruled;
    # reopened if the directory or the queue fails, so approving again completes it.
    with portal.store.begin() as connection:
        if not group_requests.decide(connection, request.id, APPROVED, by=actor, at=portal.clock()):
            raise WorkflowError(Text(DECIDED_MEANWHILE.msgid, uid=request.uid))
    try:
        portal.directory.groups.add_member(group.group, person.uid)
        portal.queue_access(GRANT, {person.uid: [group.slug]}, actor=actor)
    except Exception:
        with portal.store.begin() as connection:
            group_requests.reopen(connection, request.id)
        raise
    portal.audit("join-approved", actor=actor, subject=person.uid, remote_addr=remote_addr,
                 detail=group.slug)
    _tell_volunteer(portal, person, "join_approved", group=group.title,
                    link=portal.link(MY_GROUPS_PAGE))
    return _as_decided(portal, request.id)


def decline_join(portal: Portal, request_id: int, reason: str = "", *, actor: str,
                 remote_addr: str | None = None) -> JoinRequest:
    """Close the request without a membership; the volunteer is mailed the reason, if one is given."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": Text("keep the reason under %(most)d characters", most=MAX_REASON)})
    request = _request_for(portal, request_id, actor, "decline", remote_addr=remote_addr)
    with portal.store.begin() as connection:
        if not group_requests.decide(connection, request.id, DECLINED, by=actor, at=portal.clock(),
                                     reason=reason or None):
            raise WorkflowError(Text(DECIDED_MEANWHILE.msgid, uid=request.uid))
    portal.audit("join-declined", actor=actor, subject=request.uid, remote_addr=remote_addr,
                 detail=f"{request.slug}: {reason}" if reason else request.slug)
    group = resolve(portal.catalogue, read_teams(portal.directory, portal.catalogue), request.slug)
    person = portal.directory.people.find(request.uid)
    if person is not None:
        _tell_volunteer(portal, person, "join_declined",
                        group=group.title if group else request.slug, reason=reason)
    return _as_decided(portal, request.id)


def _tell_volunteer(portal: Portal, person: Person, template: str, **context: object) -> None:
    try:
        portal.mailer.send(person.mail, template, language=person.language,
                           display_name=person.display_name, **context)
    except MailError as error:
        portal.audit("mail-failed", subject=person.uid, detail=f"{template}: {error}")


def leave_group(portal: Portal, uid: str, slug: object, *, remote_addr: str | None = None) -> Group:
    """Leave at once: the membership goes, and with it coordinating the group (deciding its
    join requests); a revoke of that group's access, its keys included, is queued. Leaving
    a working group leaves the teams of it the person is in, in the same revoke."""
    group = any_group(portal, slug)
    theirs = groups_of(portal, uid)
    if group.slug not in theirs:
        raise WorkflowError(Text("You are not in %(name)s.", name=group.title))
    team_groups = [] if group.parent is not None else [
        name for name in portal.directory.groups.of(uid) if name.startswith(group.group + TEAM_JOINER)]
    teams = slugs_of(team_groups, portal.catalogue)
    for name in [*team_groups, group.group]:
        portal.directory.groups.remove_owner(name, uid)
        portal.directory.groups.remove_member(name, uid)
    portal.queue_access(REVOKE, {uid: [group.slug, *teams]}, actor=uid)
    portal.audit("left-group", actor=uid, subject=uid, remote_addr=remote_addr,
                 detail=" ".join([group.slug, *teams]))
    return group
