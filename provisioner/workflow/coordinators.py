"""Coordinators: the owners of a working group's LDAP group, appointed and removed by sysadmins.

A coordinator decides the group's join requests (memberships.py) and holds the keys of
its tools. The worker marks coordinators in each batch (the group entry's
`coordinator`, read from the directory when the batch is written), and the batch
modules converge on it: owner and moderator of the group's list, the managing role in
its Redmine project, an ACL line of their own on its wiki namespace. So appointing or
removing a coordinator changes the directory, then queues a job of that group for the
person, written in one transaction with its audit entry; the job reads the directory
when it runs, so whatever it finds then is what the services get.

A call cut short is completed by calling again: the directory's changes are no-ops the
second time and the job is queued then. Calling again once it went through queues
nothing more while the first job still waits (the queue leaves out a job already
waiting); two calls at the very same moment may each queue one, which does the same
work twice and ends in the same state.

Suspension keeps the `owner` value: the suspension's revoke takes the coordinator's
roles with the rest of their access, and reinstating grants them back with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalogue import Group
from ..directory import Person
from ..jobs import GRANT, REVOKE
from ..languages import Text
from ..store import audit
from ..store import jobs as queue
from ..teams import read_teams
from .context import Portal
from .errors import WorkflowError
from .memberships import any_group
from .permissions import Actor, has_open_account, require_sysadmin


@dataclass(frozen=True)
class CoordinatorChange:
    """What appointing or removing a coordinator did."""

    uid: str
    group: Group            # a working group or a team
    coordinates: bool       # appointed (True) or removed (False)
    changed: bool           # the owner value changed now; False: it was so already
    joined: bool            # appointing made them a member of the group too
    job_id: int | None      # the job queued now; None when the same job was waiting already

    def summary(self) -> str:
        """What happened, in words, for the sysadmin who asked (the page and the command line)."""
        return " ".join(self.sentences())

    def sentences(self) -> tuple[Text, ...]:
        """The summary's sentences, each whole, for a page to translate one by one."""
        named = {"uid": self.uid, "group": self.group.title}
        if self.coordinates:
            said = [Text("%(uid)s is now a coordinator of %(group)s.", **named) if self.changed
                    else Text("%(uid)s was a coordinator of %(group)s already.", **named)]
            if self.joined:
                said.append(Text("They were not a member, so they are one now."))
        else:
            said = [Text("%(uid)s is no longer a coordinator of %(group)s.", **named) if self.changed
                    else Text("%(uid)s was not a coordinator of %(group)s.", **named)]
        if self.job_id is None:
            return (*said, Text("A job for its list, wiki and project is waiting already; it will do this."))
        if self.coordinates:
            return (*said, Text("Job %(job)s is queued to hand them the keys of its list, wiki and project.",
                                job=self.job_id))
        return (*said, Text("Job %(job)s is queued to take back the keys of its list, wiki and project.",
                            job=self.job_id))


@dataclass(frozen=True)
class GroupCoordinators:
    group: Group
    coordinators: list[Person]


def coordinated_groups_listed(portal: Portal) -> list[Group]:
    """Every working group of the catalogue, each followed by its teams (read in one search)."""
    teams = sorted(read_teams(portal.directory, portal.catalogue).values(), key=lambda team: team.slug)
    listed: list[Group] = []
    for wg in portal.catalogue:
        listed += [wg, *(team for team in teams if team.parent.slug == wg.slug)]
    return listed


def coordinators(portal: Portal, *, actor: Actor) -> list[GroupCoordinators]:
    """Each working group and team with its coordinators, for the sysadmins' page."""
    require_sysadmin(portal, actor)
    groups = coordinated_groups_listed(portal)
    owners = portal.directory.groups.owners_of(group.group for group in groups)
    people = portal.directory.people.find_many(sorted({uid for uids in owners.values() for uid in uids}))
    return [GroupCoordinators(group, [people[uid] for uid in owners.get(group.group, ()) if uid in people])
            for group in groups]


def set_coordinator(portal: Portal, uid: str, slug: object, *, coordinates: bool, actor: Actor,
                    remote_addr: str | None = None) -> CoordinatorChange:
    """Appoint `uid` a coordinator of the working group or team `slug` (an owner of its LDAP
    group, and a member if they were not; a team's only from its working group's members),
    or stop it; either queues the job that brings the group's services in line."""
    require_sysadmin(portal, actor)
    group = any_group(portal, slug)
    if coordinates:
        return _appoint(portal, uid, group, actor, remote_addr)
    return _remove(portal, uid, group, actor, remote_addr)


def _appoint(portal: Portal, uid: str, group: Group, actor: Actor,
             remote_addr: str | None) -> CoordinatorChange:
    person = portal.directory.people.find(uid)
    if not has_open_account(person):
        raise WorkflowError(Text("%(uid)s has no active account: only an active account can coordinate "
                                 "a working group.", uid=uid))
    if group.parent is not None and group.parent.group not in _groups_of(portal, person):
        raise WorkflowError(Text("%(uid)s is not in %(group)s: only its members can coordinate its team "
                                 "%(team)s.", uid=uid, group=group.parent.name, team=group.name))
    groups = portal.directory.groups
    # The owner value first: adding it is atomic, so of two appoints at once exactly one
    # says it changed the directory (adding the member first let each win one of the two).
    changed = groups.add_owner(group.group, person.uid)
    joined = groups.add_member(group.group, person.uid)
    job_id = _queue_with_audit(portal, GRANT, person.uid, group, "coordinator-added", changed or joined,
                               actor, remote_addr, detail=f"working group {group.slug}"
                               + (", made a member too" if joined else ""))
    return CoordinatorChange(person.uid, group, True, changed, joined, job_id)


def _remove(portal: Portal, uid: str, group: Group, actor: Actor,
            remote_addr: str | None) -> CoordinatorChange:
    changed = portal.directory.groups.remove_owner(group.group, uid)
    person = portal.directory.people.find(uid)
    if person is None or person.pending:
        if not changed:
            raise WorkflowError(Text("%(uid)s has no account, so coordinates no working group.", uid=uid))
        portal.audit("coordinator-removed", actor=actor, subject=uid, remote_addr=remote_addr,
                     detail=f"working group {group.slug}")
        return CoordinatorChange(uid, group, False, changed, False, None)
    # A member keeps their access as a plain member; anyone else (someone who left the
    # group, a suspended account) has the group's access taken, roles and all.
    member = has_open_account(person) and group.group in _groups_of(portal, person)
    job_id = _queue_with_audit(portal, GRANT if member else REVOKE, person.uid, group,
                               "coordinator-removed", changed, actor, remote_addr,
                               detail=f"working group {group.slug}")
    return CoordinatorChange(person.uid, group, False, changed, False, job_id)


def _groups_of(portal: Portal, person: Person) -> set[str | None]:
    return {portal.directory.layout.group_name(dn) for dn in person.member_of}


def _queue_with_audit(portal: Portal, kind: str, uid: str, group: Group, action: str,
                      changed: bool, actor: Actor, remote_addr: str | None, *, detail: str) -> int | None:
    """Queue the person's job for this group and audit the change, in one transaction; a
    call that changed nothing and found the same job waiting leaves no entry."""
    with portal.store.begin() as connection:
        job_id = queue.enqueue(connection, kind, {uid: [group.slug]}, created_by=actor,
                               now=portal.clock(), max_attempts=portal.jobs.max_attempts)
        if changed or job_id is not None:
            audit.record(connection, at=portal.clock(), action=action, actor=actor, subject=uid,
                         detail=detail, remote_addr=remote_addr)
    return job_id
