"""Drift between the directory and the services (issue 17): its check, and its repair.

LDAP is the source of truth, but a roster, a project or a wiki ACL can be changed by
hand, restored from an old backup or rebuilt empty. The check runs the access playbook
in check mode on a complete batch (every account, every working group:
`reconciliation.py`): each module says what it would change, for an account or for
someone the directory does not know, and writes nothing. Each such change is a
difference; the check is kept in the store (the dashboard shows the last one). A run
that fails as a whole (a service down) is kept with its error, and is not clean.

The repair is one reconcile job, queued with its audit entry: the worker runs the same
complete batch for real, so a rebuilt service is refilled in one run. One waits or runs
at a time; asking again while it does names that one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ..jobs import PLAYBOOK
from ..languages import Text
from ..reconciliation import SERVICES, complete_batch, only_services
from ..runner import Outcome, PlaybookRunner
from ..store import audit
from ..store import jobs as queue
from ..store.drift import Difference, DriftCheck, last_check, record_check
from .context import Portal
from .errors import WorkflowError
from .permissions import Actor, require_sysadmin

__all__ = ["SERVICES", "Difference", "DriftCheck", "NothingToRepair", "Repair", "UnknownService",
           "check_drift", "chosen_services", "last_drift_check", "repair_drift", "repair_last_check"]
log = logging.getLogger("provisioner.drift")
CHECK_MODE_PREFIX = "would be done: "   # how a batch module in check mode starts its message
DRIFT = ("changed", "failed")           # an outcome with one of these statuses is a difference


class UnknownService(WorkflowError):
    """A service name the playbook does not know."""


class NothingToRepair(WorkflowError):
    """The last check found no difference (or there was none): no job."""


@dataclass(frozen=True)
class Repair:
    check: DriftCheck
    job_id: int | None    # None: the check found no difference, nothing was queued
    queued: bool          # False with a job: a repair was already queued or running


def chosen_services(services: Iterable[str] | None) -> tuple[str, ...]:
    """These services in the playbook's order, all when none are named; UnknownService else."""
    named = list(services or SERVICES)
    unknown = sorted(set(named) - set(SERVICES))
    if unknown:
        raise UnknownService(f"There is no service {', '.join(map(repr, unknown))}: "
                             f"name one of {', '.join(SERVICES)}.")
    return tuple(service for service in SERVICES if service in named)


def check_drift(portal: Portal, runner: PlaybookRunner, *, actor: Actor,
                services: Iterable[str] | None = None) -> DriftCheck:
    """Compare these services (all by default) with the directory, keep the result, return it."""
    require_sysadmin(portal, actor)
    chosen = chosen_services(services)
    batch = complete_batch(portal.directory, portal.catalogue)
    found: dict[Difference, None] = {}    # in order, each once

    def collect(outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status in DRIFT:
                found[Difference(outcome.service, outcome.uid, _what(outcome))] = None

    result = runner.run(PLAYBOOK, batch.volunteers, collect,
                        extravars={"provisioner_ldap_people_dn": portal.directory.layout.people,
                                   **only_services(chosen)},
                        check=True, complete_groups=batch.groups)
    differences = sorted(found, key=lambda difference: (difference.service, difference.identity))
    with portal.store.begin() as connection:
        record_check(connection, at=portal.clock(), services=chosen, differences=differences,
                     error=result.error)
        check = last_check(connection)
    assert check is not None
    log.info("drift checked services=%s accounts=%d differences=%d failed=%s", ",".join(chosen),
             len(batch.volunteers), len(differences), check.error is not None)
    return check


def _what(outcome: Outcome) -> str:
    message = outcome.message or outcome.task
    return message.removeprefix(CHECK_MODE_PREFIX)


def repair_drift(portal: Portal, runner: PlaybookRunner, *, actor: Actor,
                 services: Iterable[str] | None = None, remote_addr: str | None = None) -> Repair:
    """Check, then queue one reconcile job of these services when there is a difference."""
    check = check_drift(portal, runner, actor=actor, services=services)
    if not check.differences:
        return Repair(check, None, False)
    job_id, queued = _queue_repair(portal, check.services, actor=actor, remote_addr=remote_addr)
    return Repair(check, job_id, queued)


def last_drift_check(portal: Portal, *, actor: Actor) -> DriftCheck | None:
    """The newest check, None before the first: what the sysadmins' drift page shows."""
    require_sysadmin(portal, actor)
    with portal.store.begin() as connection:
        return last_check(connection)


def repair_last_check(portal: Portal, *, actor: Actor, remote_addr: str | None = None) -> Repair:
    """Queue the repair of what the last check found (its services); NothingToRepair when it
    found nothing. The worker's run reads the directory and the services afresh."""
    check = last_drift_check(portal, actor=actor)
    if check is None or not check.differences:
        raise NothingToRepair(Text("The last check found no difference: there is nothing to repair."))
    job_id, queued = _queue_repair(portal, check.services, actor=actor, remote_addr=remote_addr)
    return Repair(check, job_id, queued)


def _queue_repair(portal: Portal, services: tuple[str, ...], *, actor: Actor,
                  remote_addr: str | None) -> tuple[int, bool]:
    with portal.store.begin() as connection:
        job_id, queued = queue.enqueue_reconcile(connection, services, created_by=actor,
                                                 now=portal.clock(), max_attempts=portal.jobs.max_attempts)
        audit.record(connection, at=portal.clock(), action="reconcile-asked", actor=actor,
                     remote_addr=remote_addr,
                     detail=f"job {job_id}{'' if queued else ' (already queued)'}: {' '.join(services)}")
    log.info("repair asked job=%d new=%s services=%s", job_id, queued, ",".join(services))
    return job_id, queued
