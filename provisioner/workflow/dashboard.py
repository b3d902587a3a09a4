"""The sysadmins' home: per service, how many people are provisioned, waiting, failed and
drifted, and the jobs that ended on each of the last days.

Who counts is the directory's: every active account in at least one working group. A
person's state on a service is their newest recorded outcome there, unless a job for
them is still to run (waiting); nobody recorded yet is waiting too. Drifted comes from
the last drift check (`provisioner reconcile --check`, a daily timer), which compares the
services themselves with the directory, so it also counts strangers the directory does
not know; it is shown apart, as it is not a share of the people counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..directory import Status
from ..store import drift, job_stats
from ..store.drift import DriftCheck
from ..store.job_stats import DayOfJobs
from .context import Portal
from .permissions import Actor, require_sysadmin

SERVICES = ("lists", "wiki", "redmine")
DAYS = 14
PROVISIONED, WAITING, FAILED = "provisioned", "waiting", "failed"


@dataclass(frozen=True)
class ServiceCounts:
    service: str
    provisioned: int
    waiting: int
    failed: int
    drifted: int | None  # people the last drift check found differing there; None: not checked
    offered: bool       # False when the last outcomes said the occupation does not offer it


@dataclass(frozen=True)
class Dashboard:
    people: int                      # active accounts in at least one working group
    services: list[ServiceCounts]
    days: list[DayOfJobs]            # oldest first, DAYS of them
    last_check: DriftCheck | None    # the last drift check, whatever it found


def dashboard(portal: Portal, *, actor: Actor) -> Dashboard:
    require_sysadmin(portal, actor)
    layout = portal.directory.layout
    groups = {group.group for group in portal.catalogue}
    people = [person.uid for person in portal.directory.people.accounts_where(statuses=[Status.ACTIVE])
              if groups.intersection(layout.group_name(dn) for dn in person.member_of)]
    with portal.store.begin() as connection:
        statuses = job_stats.latest_statuses(connection)
        waiting = job_stats.waiting(connection)
        days = job_stats.ended_per_day(connection, today=portal.clock().date(), days=DAYS)
        last_check = drift.last_check(connection)
    return Dashboard(len(people), [_counts(service, people, statuses, waiting, _drifted(last_check, service))
                                   for service in SERVICES], days, last_check)


def _drifted(check: DriftCheck | None, service: str) -> int | None:
    """Whom the last check found held otherwise than the directory says on `service`: None
    when it did not look there or could not finish."""
    if check is None or check.error or service not in check.services:
        return None
    return len({difference.identity for difference in check.differences if difference.service == service})


def _counts(service: str, people: list[str], statuses: dict[tuple[str, str], str],
            waiting: set[str], drifted: int | None) -> ServiceCounts:
    states = {PROVISIONED: 0, WAITING: 0, FAILED: 0}
    not_offered = 0
    for uid in people:
        status = statuses.get((uid, service))
        if status == "not_offered" and uid not in waiting:
            not_offered += 1
        elif uid in waiting or status is None:
            states[WAITING] += 1
        else:
            states[FAILED if status == "failed" else PROVISIONED] += 1
    return ServiceCounts(service, states[PROVISIONED], states[WAITING], states[FAILED], drifted,
                         offered=not people or not_offered < len(people))
