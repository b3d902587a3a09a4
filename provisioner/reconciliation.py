"""A complete batch (issue 17): the whole directory as the services should hold it.

The drift check runs the playbook on it in check mode; the worker's reconcile job runs
it for real. Every account is in it: an active account as a grant of all its working
groups and teams, any other (suspended, expired) as a revoke of every working group and
team; those groups go with it, so the batch modules also report, and
take away, anyone a group's list, namespace or project holds without the directory
giving them the group. An active account in no working group (a sysadmin, a service's
own account) is a revoke too: that is where revoking someone's last group leaves them
(a grant of nothing would make them a Redmine account).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .catalogue import Catalogue, Group
from .directory import Directory, Status
from .runner import Volunteer, group_entry
from .teams import read_teams

# The services a check or repair may be limited to, as the playbook names them.
SERVICES = ("lists", "wiki", "redmine")
# The playbook runs only the services this extra variable names (comma-separated).
ONLY_SERVICES_VARIABLE = "provisioner_only_services"


@dataclass(frozen=True)
class CompleteBatch:
    volunteers: list[Volunteer]
    groups: list[dict[str, str | bool | None]]     # every working group and team, with its names


def complete_batch(directory: Directory, catalogue: Catalogue) -> CompleteBatch:
    """Every account of the directory, read in one search, and every working group and team
    (the teams read in one search too)."""
    layout = directory.layout
    people = directory.people.accounts_where(statuses=list(Status))
    working_groups: list[Group] = [*catalogue, *read_teams(directory, catalogue).values()]
    owners = directory.groups.owners_of(wg.group for wg in working_groups)

    volunteers = []
    for person in people:
        active = person.status == Status.ACTIVE
        member_of = {name.lower() for dn in person.member_of if (name := layout.group_name(dn))}
        granted = [wg for wg in working_groups if active and wg.group.lower() in member_of]
        groups = granted or working_groups
        volunteers.append(Volunteer(
            uid=person.uid, action="grant" if granted else "revoke", mail=person.mail,
            display_name=person.display_name,
            groups=[group_entry(wg, layout, coordinator=person.uid in owners.get(wg.group, ()))
                    for wg in groups],
        ))
    return CompleteBatch(volunteers, [group_entry(wg, layout) for wg in working_groups])


def only_services(services: Iterable[str]) -> dict[str, str]:
    """The extra variable that limits the playbook to these services (never volunteer data)."""
    return {ONLY_SERVICES_VARIABLE: ",".join(services)}
