"""What the batch modules share: reading the worker's files, and keeping a volunteer's
failure to that volunteer.

The worker hands a batch to the playbook as a JSON file that each module reads
itself (and the directory's bind password as another): anything passed through
Ansible's variables is a Jinja template, so a volunteer's name or address such as
``k{{redmine_api_key}}@example.org`` would be rendered, leaking the inventory's
secrets into the services. Read here, the values stay data.
"""

from __future__ import annotations

import json
from collections.abc import Callable


class BatchFileError(Exception):
    """The worker's batch or secrets file cannot be read: the whole run fails."""


def read_json_file(path: str, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
    except (OSError, ValueError) as error:
        raise BatchFileError(f"cannot read the {what} file {path}: {error}") from None
    if not isinstance(content, dict):
        raise BatchFileError(f"the {what} file {path} does not hold a JSON object")
    return content


def read_batch(path: str) -> list[dict]:
    """The volunteers of the batch file, each a dict with at least a uid, an action and groups."""
    volunteers = read_json_file(path, "batch").get("volunteers")
    if not isinstance(volunteers, list) or not all(
            isinstance(volunteer, dict) and isinstance(volunteer.get("uid"), str)
            and isinstance(volunteer.get("groups"), list) for volunteer in volunteers):
        raise BatchFileError(f"the batch file {path} does not hold a list of volunteers, "
                             "each with a uid and a list of groups")
    return volunteers


def read_complete_groups(path: str) -> list[dict] | None:
    """The working groups of a complete batch (a reconciliation), or None for an ordinary one.

    A complete batch lists every account of the directory, and under ``complete.groups``
    every working group of the catalogue: in those groups' lists, namespaces and projects,
    anyone the batch does not grant the group holds access the directory does not give,
    and loses it."""
    complete = read_json_file(path, "batch").get("complete")
    if complete is None:
        return None
    groups = complete.get("groups") if isinstance(complete, dict) else None
    if not isinstance(groups, list) or not all(isinstance(group, dict) and isinstance(group.get("slug"), str)
                                               for group in groups):
        raise BatchFileError(f"the batch file {path} has a complete part without a list of groups")
    return groups


def granted(volunteers: list[dict], slug: str) -> list[dict]:
    """The volunteers a batch grants the group `slug`."""
    return [volunteer for volunteer in volunteers if volunteer.get("action") == "grant"
            and any(group.get("slug") == slug for group in volunteer["groups"])]


def read_secret(path: str, name: str) -> str:
    value = read_json_file(path, "secrets").get(name)
    if not isinstance(value, str) or not value:
        raise BatchFileError(f"the secrets file {path} holds no {name}")
    return value


def failed(message: str) -> dict:
    return {"status": "failed", "message": message}


def outcome_of(volunteer: dict, act: Callable[[dict], dict], *,
               service_errors: tuple[type[Exception], ...] = (),
               service_answers: Callable[[], bool] = lambda: False) -> dict:
    """`act(volunteer)`'s outcome; when it raises, a failed outcome for this volunteer alone.

    An error that means the service as a whole cannot be used (`service_errors`) is
    raised again, so that every volunteer fails, unless the service still answers
    (`service_answers()`): then it was this volunteer's request that broke it, for
    example an HTTP 500 on one address.
    """
    uid = volunteer["uid"]
    try:
        return act(volunteer)
    except service_errors as error:
        if not _answers(service_answers):
            raise
        return failed(f"the request for {uid} failed while the service still answers: {error}")
    except Exception as error:  # one volunteer's bug must not end the batch
        return failed(f"unexpected error for {uid}: {type(error).__name__}: {error}")


def _answers(service_answers: Callable[[], bool]) -> bool:
    try:
        return service_answers()
    except Exception:  # a probe that fails means the service does not answer
        return False
