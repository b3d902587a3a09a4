"""How a person's access to each service reads, from their latest provisioning job."""

from __future__ import annotations

from dataclasses import dataclass

from ..languages import Text
from ..workflow.provisioning import CANCELLED, FAILED, QUEUED, RUNNING, Job

# English, which the account page shows in its own language (its `translated` filter).
SERVICE_LABELS = {"directory": Text("Account check"), "lists": Text("Mailing lists"), "wiki": Text("Wiki"),
                  "redmine": Text("Redmine")}
RESULT_LABELS = {"ok": Text("Done"), "changed": Text("Done"), "failed": Text("Failed"),
                 "not_offered": Text("Not offered")}
JOB_STATE_LABELS = {QUEUED: Text("Waiting"), RUNNING: Text("In progress"), "succeeded": Text("Done"),
                    FAILED: Text("Failed"), CANCELLED: Text("Cancelled")}
# The batch modules (playbooks/library) import nothing from the portal: the fixed details
# they report that a volunteer's page shows are marked here, so the catalogue translates them.
# A detail naming things, or a service's own error, is shown as the service wrote it.
MODULE_DETAILS = (Text("account and working groups in place"),)


@dataclass(frozen=True)
class ServiceAccess:
    service: str
    state: str
    detail: str | None


def service_access(job: Job | None) -> list[ServiceAccess]:
    """One line per service the latest job touched, its newest attempt only."""
    if job is None:
        return []
    latest_attempt = max((result.attempt for result in job.results), default=None)
    lines = {}
    for result in job.results:
        if result.attempt == latest_attempt:
            state = RESULT_LABELS.get(result.status, result.status)
            lines[result.service] = ServiceAccess(
                SERVICE_LABELS.get(result.service, result.service), state, result.message)
    if job.state in (QUEUED, RUNNING) or not lines:
        return [ServiceAccess(Text("All services"), JOB_STATE_LABELS[job.state],
                              Text("Access is being removed") if job.kind == "revoke"
                              else Text("Access is being set up"))]
    return list(lines.values())
