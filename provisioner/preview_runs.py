"""Approval previews, as the worker runs them (issue 17).

A sysadmin asks what approving a request would do (workflow/approval_preview.py stores
the question); `run_pending` answers every question waiting in ONE check-mode run of the
grant playbook of its own, never mixed with real jobs. Each volunteer of that batch is the
request as the approval would grant it: its uid, address and name, the groups it asked
for, marked `preview`, so the directory check checks the request in ou=pending that the
approval would make an account of (and fails it in any run that writes). The modules
report what they would do and write nothing; the outcomes are stored with a fingerprint
of the request the run read, so that a request changed since is not shown as current.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from .directory import Person, Status
from .runner import Outcome, Volunteer, group_entry
from .store import previews

if TYPE_CHECKING:
    from .jobs import Worker

# A preview whose worker died is run again after this; one asked this long ago is deleted.
LEASE = timedelta(minutes=5)
RETENTION = timedelta(days=1)
log = logging.getLogger("provisioner.worker")


def fingerprint(person: Person) -> str:
    """What a preview depends on in a request: if any of it changes, the preview is old."""
    state = [person.entry_id, person.uid, person.mail, person.display_name,
             person.status.value if person.status else None, person.pending,
             sorted(person.requested_groups)]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()


def run_pending(worker: Worker, playbook: str, action: str) -> int:
    """Answer every preview waiting, in one check-mode run; return how many it answered."""
    now = worker.clock()
    with worker.store.begin() as connection:
        previews.prune(connection, before=now - RETENTION)
        uids = previews.claim(connection, worker.name, now=now, lease=LEASE)
    if not uids:
        return 0
    people = worker.directory.people.find_many(uids)
    volunteers, read, refused = [], {}, {}
    for uid in uids:
        person = people.get(uid)
        if person is None or not person.pending or person.status != Status.VERIFIED:
            refused[uid] = f"{uid} is no longer a request waiting for approval"
            continue
        working_groups = [worker.catalogue.get(slug) for slug in person.requested_groups]
        if unknown := sum(1 for wg in working_groups if wg is None):
            refused[uid] = f"{unknown} of the groups {uid} asked for are not working groups"
            continue
        read[uid] = fingerprint(person)
        volunteers.append(Volunteer(
            uid=uid, action=action, mail=person.mail, display_name=person.display_name, preview=True,
            groups=[group_entry(wg, worker.directory.layout, coordinator=False)
                    for wg in working_groups if wg is not None]))
    outcomes: dict[str, list[previews.PreviewOutcome]] = {uid: [] for uid in read}

    def record(batch: list[Outcome]) -> None:
        for outcome in batch:
            if outcome.uid in outcomes and not outcome.extra:
                outcomes[outcome.uid].append(previews.PreviewOutcome(
                    outcome.service, outcome.task, outcome.status, outcome.message))

    error = None
    if volunteers:
        log.info("preview run started previews=%d worker=%s", len(volunteers), worker.name)
        layout = worker.directory.layout
        result = worker.runner.run(playbook, volunteers, record, check=True, extravars={
            "provisioner_ldap_people_dn": layout.people, "provisioner_ldap_pending_dn": layout.pending})
        error = result.error if not result.succeeded else None
        log.info("preview run ended previews=%d succeeded=%s", len(volunteers), result.succeeded)
    with worker.store.begin() as connection:
        for uid in uids:
            previews.finish(connection, uid, worker.name, now=worker.clock(), fingerprint=read.get(uid),
                            outcomes=outcomes.get(uid, []), error=refused.get(uid) or error)
    return len(uids)
