"""How a person's access to each service reads, from their latest provisioning job."""

from __future__ import annotations

from dataclasses import dataclass

from ..workflow.provisioning import CANCELLED, FAILED, QUEUED, RUNNING, Job

SERVICE_LABELS = {"directory": "Account check", "lists": "Mailing lists", "wiki": "Wiki",
                  "redmine": "Redmine"}
RESULT_LABELS = {"ok": "Done", "changed": "Done", "failed": "Failed", "not_offered": "Not offered"}
JOB_STATE_LABELS = {QUEUED: "Waiting", RUNNING: "In progress", "succeeded": "Done",
                    FAILED: "Failed", CANCELLED: "Cancelled"}


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
        return [ServiceAccess("All services", JOB_STATE_LABELS[job.state],
                              "Access is being " + ("removed" if job.kind == "revoke" else "set up"))]
    return list(lines.values())
