"""The one place that calls ansible-runner: a batch of volunteers in, outcomes out.

Secrets reach Ansible only through a file (mode 0600, outside the runner's data
folder) that the directory check's module reads itself and that is removed after
the run. ansible-runner copies the whole process environment into its `command`
artifact, so every PROVISIONER_* variable is blanked for the run. The volunteer
batch travels in a file too, which each batch module reads itself: never on the
command line, never as Ansible variables (those are Jinja templates, and what a
volunteer typed must stay data).

Outcomes reach the caller on a thread of their own (`_OutcomeHandoff`), never inside
ansible-runner's read of the playbook's output: after the playbook ends, ansible-runner
reads what is left for at most 5 seconds, and a large batch's outcomes written to the
store inside that read (30,000 rows for 10,000 volunteers) made the run fail with
pexpect's TIMEOUT.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from .catalogue import Group
from .directory.layout import Layout
from .languages import Text

TASK_END_EVENTS = ("runner_on_ok", "runner_on_failed", "runner_on_unreachable")
# A looped task reports each item in its own event; the task's end event then
# carries only the list of item results.
ITEM_EVENTS = ("runner_item_on_ok", "runner_item_on_failed")


@dataclass(frozen=True)
class Volunteer:
    """One person in a batch, as the playbook sees them."""

    uid: str
    action: str                  # grant or revoke
    mail: str | None
    display_name: str | None
    # slug, name, group, group_dn, list_name, wiki_namespace, redmine_project,
    # parent_redmine_project (a team's: its working group's project; null for a working
    # group): every name as the catalogue and the directory's layout give it, so no module
    # rebuilds one; and
    # coordinator: whether they own the group's LDAP group now (the modules give or take
    # the group's managing roles by it)
    groups: list[dict[str, str | bool | None]]
    # the address the services may still know them by, after they changed it (a grant)
    previous_mail: str | None = None
    # a revoke of a deleted account: the services delete what they hold of them too
    forget: bool = False
    # an approval preview (check mode only): `uid` is still a request in ou=pending, whose
    # account the approval would make; the directory check looks for the request instead
    preview: bool = False


def group_entry(group: Group, layout: Layout, *,
                coordinator: bool | None = None) -> dict[str, str | bool | None]:
    """A working group or a team as a batch names it: every name from the catalogue and the
    layout, and for a volunteer's group whether they coordinate it."""
    entry: dict[str, str | bool | None] = {
        "slug": group.slug, "name": group.name, "group": group.group,
        "group_dn": layout.group_dn(group.group), "list_name": group.list_name,
        "wiki_namespace": group.wiki_namespace, "redmine_project": group.redmine_project,
        "parent_redmine_project": group.parent_redmine_project}
    if coordinator is not None:
        entry["coordinator"] = coordinator
    return entry


@dataclass(frozen=True)
class Outcome:
    """What one task did for one volunteer on one service."""

    uid: str
    service: str
    task: str
    status: str                  # ok, changed, failed
    message: str | None = None
    # someone a complete batch found in a working group's list, namespace or project
    # without the directory giving them that group: `uid` is then the service's own name
    # for them (an address on Mailman, a login on Redmine, an ACL name on the wiki)
    extra: bool = False


@dataclass(frozen=True)
class RunResult:
    succeeded: bool
    error: str | None            # in plain words, when the run itself failed


@dataclass(frozen=True)
class RunnerSettings:
    playbooks_dir: Path
    inventory: Path
    work_dir: Path               # ansible-runner's private data dir; artifacts under it
    keep_runs: int = 20
    extravars: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


class PlaybookRunner:
    def __init__(self, settings: RunnerSettings):
        self.settings = settings

    def run(self, playbook: str, volunteers: Iterable[Volunteer],
            on_outcomes: Callable[[list[Outcome]], None],
            should_cancel: Callable[[], bool] = lambda: False,
            extravars: Mapping[str, str] | None = None, *, check: bool = False,
            complete_groups: list[dict[str, str | bool | None]] | None = None) -> RunResult:
        """One run for these volunteers; `extravars` adds to the settings' (never volunteer data).

        `check` runs the playbook in Ansible's check mode: every module says what it would
        do and writes nothing. `complete_groups` makes the batch complete (a
        reconciliation): the volunteers are every account, these are every working
        group, and anyone else found in the groups' services is reported as extra."""
        settings = self.settings
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        handoff = Path(tempfile.mkdtemp(prefix="handoff-", dir=settings.work_dir))
        volunteers = list(volunteers)
        if not check and any(volunteer.preview for volunteer in volunteers):
            raise ValueError("an approval preview runs only in check mode: nothing is granted to a request")
        handoff_outcomes = _OutcomeHandoff(on_outcomes)
        reader = _EventReader([volunteer.uid for volunteer in volunteers], handoff_outcomes)
        try:
            batch: dict[str, object] = {"volunteers": [asdict(v) for v in volunteers]}
            if complete_groups is not None:
                batch["complete"] = {"groups": complete_groups}
            batch_file = _write_private(handoff / "batch.json", batch)
            secrets_file = _write_private(handoff / "secrets.json", settings.secrets)
            result = ansible_runner.run(
                private_data_dir=str(settings.work_dir),
                project_dir=str(settings.playbooks_dir),
                playbook=playbook,
                inventory=str(settings.inventory),
                extravars={**settings.extravars, **(extravars or {}),
                           "provisioner_batch_file": str(batch_file),
                           "provisioner_secrets_file": str(secrets_file)},
                envvars=_environment(),
                cmdline="--check" if check else None,
                suppress_env_files=True,
                rotate_artifacts=settings.keep_runs,
                quiet=True,
                event_handler=reader.read,
                cancel_callback=should_cancel,
            )
        finally:
            shutil.rmtree(handoff, ignore_errors=True)
            handoff_outcomes.close()
        if result.status == "successful":
            return RunResult(True, None)
        reason = reader.failures[0] if reader.failures else (
            f"ansible-playbook ended {result.status} (rc {result.rc})")
        return RunResult(False, reason)


def _write_private(path: Path, content: Mapping[str, object]) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(content, file)
    return path


def _environment() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    blanked = {name: "" for name in os.environ if name.startswith("PROVISIONER_")}
    return {**blanked, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"}


class _OutcomeHandoff:
    """Passes outcomes to `on_outcomes` on a thread of its own, in order; `close` waits for
    the last and raises what `on_outcomes` raised, if anything (later outcomes are dropped)."""

    def __init__(self, on_outcomes: Callable[[list[Outcome]], None]):
        self._on_outcomes = on_outcomes
        self._waiting: queue.SimpleQueue[list[Outcome] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._hand_on, name="outcomes", daemon=True)
        self._thread.start()

    def __call__(self, outcomes: list[Outcome]) -> None:
        self._waiting.put(outcomes)

    def _hand_on(self) -> None:
        while (outcomes := self._waiting.get()) is not None:
            if self._error is None:
                try:
                    self._on_outcomes(outcomes)
                except BaseException as error:   # raised again by close(), in the caller's thread
                    self._error = error

    def close(self) -> None:
        self._waiting.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class _EventReader:
    """Turns the runner's events into outcomes, and remembers why a step failed, in words."""

    def __init__(self, uids: list[str], on_outcomes: Callable[[list[Outcome]], None]):
        self.uids = uids
        self.on_outcomes = on_outcomes
        self.failures: list[str] = []

    def read(self, event: dict[str, Any]) -> bool:
        """One of ansible-runner's events: JSON, whose shape depends on the event and the module."""
        if event.get("event") not in TASK_END_EVENTS + ITEM_EVENTS:
            return True
        data = event.get("event_data", {})
        task = data.get("task", "")
        result = data.get("res") if isinstance(data.get("res"), dict) else {}
        per_volunteer = result.get("volunteers")
        if isinstance(per_volunteer, dict):
            self.on_outcomes([Outcome(uid, str(result.get("service", "unknown")), task,
                                      str(outcome.get("status", "failed")), outcome.get("message"))
                              for uid, outcome in per_volunteer.items() if isinstance(outcome, dict)])
        extra = result.get("extra")
        if isinstance(extra, dict):
            self.on_outcomes([Outcome(name, str(result.get("service", "unknown")), task,
                                      str(outcome.get("status", "failed")), outcome.get("message"),
                                      extra=True)
                              for name, outcome in extra.items() if isinstance(outcome, dict)])
        not_offered = (result.get("ansible_facts") or {}).get("provisioner_not_offered")
        if not_offered:
            detail = Text("not offered by this occupation")   # the account page translates it
            self.on_outcomes([Outcome(uid, service, task, "not_offered", detail)
                              for service in not_offered for uid in self.uids])
        if event["event"] in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            self.failures.append(f"The step “{task}” failed: {result.get('msg') or 'no message'}")
        return True
