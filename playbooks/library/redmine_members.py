#!/usr/bin/python
"""Ansible module: give or take volunteers' membership of their working groups' Redmine projects."""

from __future__ import annotations

DOCUMENTATION = r"""
module: redmine_members
short_description: Grant or revoke a batch of volunteers' Redmine project memberships
description:
  - Makes sure each working group of the batch has its Redmine project (created with the
    group's name when missing), and each team its subproject (C(parent_redmine_project),
    created under its working group's project when missing).
  - >-
    To grant, the volunteer's Redmine account (login = uid, authenticated by the LDAP source
    I(auth_source_id), no password of its own) is created if missing and unlocked if
    locked; then the account becomes a member of each group's project with I(role). An
    existing membership keeps the roles it has, but for one: the module owns
    I(coordinator_role) in the working groups' projects. A volunteer whose group entry
    says C(coordinator=true) (an owner of the group's LDAP group) has it; anyone else
    granted the group loses it (a membership left with no role gets I(role)). An existing
    account whose address is not the batch's C(mail) (the volunteer changed it) is given
    it, so Redmine's notifications follow; an address another Redmine account holds fails
    only that volunteer, saying so.
  - To revoke, the volunteer's memberships in the batch's groups' projects are removed, and
    the account is locked once it is a member of no project at all; a revoke marked
    C(forget) (a deleted account) deletes the account instead (Redmine gives what they
    wrote to its Anonymous user).
  - >-
    A complete batch (C(complete.groups) in the batch file) then converges each listed
    group's project (created if missing), with one listing of its members. A user member
    whose login the batch does not grant the group (someone added by hand, an account the
    batch revokes) is removed from the project, roles and all; so is a Redmine group, which
    the directory never gives a working group (the deployment puts none in a project; the
    project's creator, an administrator through the API, is not made a member). The
    account itself is left as it is (locking stays a revoke's). Left alone on purpose are
    Redmine's built-in groups for anonymous and non-member users, the roles of anyone
    outside the project, which count only in a public project (I(project_public)), and
    memberships whose every role is inherited (from the parent project, which is no
    working group's, or from a Redmine group removed with them), which Redmine refuses to
    delete; a member with roles of their own besides inherited ones loses their own. Each
    one found is reported under C(extra). In a complete batch Redmine's accounts are
    listed once first (a request per 100), so that a revoke of an account Redmine does not
    know costs no request, and a grant of one it knows tries no creation.
  - Talks to Redmine's REST API as an administrator, over I(connections) keep-alive
    connections at once, a volunteer at a time on each; Redmine spends most of a request
    waiting on its database, so a few in flight finish a batch several times sooner.
    Reports per volunteer under C(volunteers), with C(service=redmine). The task fails
    only when Redmine as a whole cannot be used (it does not answer, refuses the key, has
    no such role); a problem with one volunteer (a refused address, a request that fails
    while Redmine still answers) is reported for that volunteer.
  - In check mode nothing is written; each volunteer's message says what a run would do,
    and C(changed) whether anything would change.
  - Reads the batch from I(batch_file) itself, so that what volunteers typed is never
    templated by Ansible. Redmine's first and last names are the display name's words
    (the last word is the surname), each cut to Redmine's 30 characters.
extends_documentation_fragment: [volunteer_batch]
options:
  url:
    description: Redmine's address, for example https://redmine.example.org
    type: str
    required: true
  api_key: {description: an administrator's API key, type: str, required: true, no_log: true}
  auth_source_id: {description: the id of Redmine's LDAP authentication source, type: int, required: true}
  role:
    description: the name of the Redmine role members get
    type: str
    default: Developer
  coordinator_role:
    description: the name of the Redmine role a working group's coordinators get in its project
    type: str
    default: Manager
  project_public: {description: whether new projects are public, type: bool, default: false}
  validate_certs: {description: check Redmine's TLS certificate, type: bool, default: true}
  timeout: {description: seconds to wait for one answer, type: int, default: 30}
  connections: {description: how many volunteers are worked on at once, type: int, default: 8}
"""

EXAMPLES = r"""
- name: Give volunteers access to their working groups' Redmine projects
  redmine_members:
    url: https://redmine.occupy.example
    api_key: "{{ vault_redmine_api_key }}"
    auth_source_id: 1
    role: Developer
    coordinator_role: Manager
    batch_file: "{{ provisioner_batch_file }}"
"""

RETURN = r"""
service: {description: always C(redmine), returned: always, type: str}
volunteers:
  description: >-
    by uid, C({status, message}): C(changed) when an account or membership was made,
    unlocked, removed or locked now, an account's address changed, or a coordinator's role
    given or taken, C(ok) when already so, C(failed) with the reason
  returned: always
  type: dict
extra:
  description: >-
    in a complete batch, by login (a Redmine group's by its name), whoever was found in a
    listed group's project without the batch granting them the group, C({status,
    message}): C(changed) with what was taken and where (in check mode after C(would be
    done: )), for example C(removed from the project wg-kitchen: the directory does not
    give them this group), C(ok) when it had gone meanwhile, C(failed) with the reason;
    empty for an ordinary batch
  returned: always
  type: dict
"""

import http.client
import json
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.volunteer_batch import (
    BatchFileError,
    granted,
    outcome_of,
    read_batch,
    read_complete_groups,
)

ACTIVE = 1
LOCKED = 3
PAGE = 100
NAME_LENGTH = 30    # Redmine's limit on first and last names
# Answers of a proxy in front of a Redmine that is down.
UNAVAILABLE = (502, 503, 504)
# Redmine on SQLite (Debian's redmine-sqlite) answers 500 when another request holds the
# database's write lock: with several requests in flight, a 500 is tried again, a little
# later each time. Safe: a request that was done answers "already taken" (422) instead.
BUSY_RETRY_SECONDS = (0.2, 0.5, 1.0)
# What _converge_roles did with the coordinators' role.
GIVEN = "given"
TAKEN = "taken"


class RedmineUnavailable(Exception):
    """Redmine as a whole cannot be used: the message names it and says why."""


class VolunteerProblem(Exception):
    """One step for one volunteer failed; the message is for people."""


@dataclass
class Answer:
    status: int
    data: dict
    after_busy: bool = False    # a 500 came first: a 422 "already taken" may be our own request

    def taken_by_us(self) -> bool:
        """A 422 "already taken" that answers our own earlier try, which Redmine did."""
        return self.status == 422 and self.after_busy

    def errors(self) -> str:
        found = self.data.get("errors") if isinstance(self.data, dict) else None
        if isinstance(found, list) and found:
            return "; ".join(str(error) for error in found)
        return f"HTTP {self.status}"


class RedmineClient:
    """One keep-alive HTTP connection to Redmine's REST API, as the key's owner; one thread's."""

    def __init__(self, url: str, api_key: str, timeout: int, validate_certs: bool):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RedmineUnavailable(f"Redmine's address {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._context = ssl.create_default_context() if self._https else None
        if self._context is not None and not validate_certs:
            self._context.check_hostname = False
            self._context.verify_mode = ssl.CERT_NONE
        self._headers = {"X-Redmine-API-Key": api_key, "Accept": "application/json",
                         "Content-Type": "application/json"}
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._https:
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._context)
            else:
                self._connection = http.client.HTTPConnection(self._host, self._port,
                                                              timeout=self._timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(self, method: str, path: str, body: dict | None = None,
                query: dict | None = None) -> Answer:
        target = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        busy = False
        for pause in (*BUSY_RETRY_SECONDS, None):
            status, raw = self._exchange(method, target, payload)
            if status != 500 or pause is None:
                break
            busy = True
            time.sleep(pause)
        if status == 401:
            raise RedmineUnavailable(f"Redmine at {self.url} refused the API key (HTTP 401)")
        if status in UNAVAILABLE:
            raise RedmineUnavailable(f"Redmine at {self.url} is unavailable (HTTP {status})")
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            data = {}
        return Answer(status, data, after_busy=busy)

    def _exchange(self, method: str, target: str, payload: bytes | None) -> tuple[int, bytes]:
        # A kept-alive connection the server has closed fails on first use: one fresh
        # try. Repeating a POST is safe: a done one answers "already taken".
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request(method, target, body=payload, headers=self._headers)
                response = connection.getresponse()
                raw = response.read()
            except (http.client.HTTPException, OSError) as error:
                self.close()
                if attempt == 1 and not isinstance(error, TimeoutError):
                    continue
                raise RedmineUnavailable(
                    f"Redmine REST API at {self.url} does not answer: {error or type(error).__name__}"
                ) from error
            if response.will_close:
                self.close()
            return response.status, raw


class ClientPerThread:
    """A RedmineClient for each thread that asks: an http.client connection is not thread-safe."""

    def __init__(self, url: str, api_key: str, timeout: int, validate_certs: bool):
        self._arguments = (url, api_key, timeout, validate_certs)
        self.url = RedmineClient(*self._arguments).url    # checks the address before any thread
        self._local = threading.local()
        self._clients: list[RedmineClient] = []
        self._lock = threading.Lock()

    def request(self, method: str, path: str, body: dict | None = None,
                query: dict | None = None) -> Answer:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = RedmineClient(*self._arguments)
            with self._lock:
                self._clients.append(client)
        return client.request(method, path, body, query)

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()


@dataclass
class Project:
    identifier: str
    id: int | None = None
    problem: str | None = None


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unchanged: str = ""

    def report(self, check_mode: bool = False) -> dict:
        """`done` says what was done; in check mode, what a run would do."""
        done = [f"would be done: {'; '.join(self.done)}"] if check_mode and self.done else self.done
        if self.problems:
            return {"status": "failed", "message": "; ".join(self.problems + done)}
        if done:
            return {"status": "changed", "message": "; ".join(done)}
        return {"status": "ok", "message": self.unchanged}


def split_name(display_name: str | None, uid: str) -> tuple[str, str]:
    """Redmine requires both names; like the directory's sn, the last word is the surname."""
    words = (display_name or "").split()
    if not words:
        return uid[:NAME_LENGTH], "-"
    if len(words) == 1:
        return words[0][:NAME_LENGTH], "-"
    return " ".join(words[:-1])[:NAME_LENGTH], words[-1][:NAME_LENGTH]


class RedmineAccess:
    def __init__(self, client: RedmineClient | ClientPerThread, auth_source_id: int, project_public: bool,
                 check_mode: bool = False):
        self.client = client
        self.auth_source_id = auth_source_id
        self.project_public = project_public
        self.check_mode = check_mode    # read only; what would be written is reported
        self.projects: dict[str, Project] = {}
        self.role_id: int | None = None
        self.coordinator_role_id: int | None = None
        self.coordinator_role = ""
        self.changed = False
        # A complete batch's accounts by lower-case login, listed once before the batch
        # (grants add those they make): a revoke of someone Redmine does not know costs no
        # request, and a project's members are told apart by login. None otherwise.
        self.accounts: dict[str, dict] | None = None

    def answers(self) -> bool:
        """Whether Redmine serves its API at all: tells one request's failure from Redmine's."""
        return self.client.request("GET", "/users/current.json").status == 200

    def check_administrator(self) -> None:
        answer = self.client.request("GET", "/users/current.json")
        if answer.status == 403:
            raise RedmineUnavailable(f"Redmine at {self.client.url} refused its REST API (HTTP 403): "
                                     "is the REST API enabled in its settings?")
        if answer.status != 200 or not answer.data.get("user", {}).get("admin"):
            raise RedmineUnavailable(f"Redmine at {self.client.url} did not take the API key as an "
                                     f"administrator's (HTTP {answer.status})")

    def resolve_roles(self, member: str, coordinator: str) -> None:
        """The ids of the members' and the coordinators' roles, by their names."""
        answer = self.client.request("GET", "/roles.json")
        if answer.status != 200:
            raise RedmineUnavailable(f"Redmine at {self.client.url} did not list its roles: "
                                     f"{answer.errors()}")
        roles = {role["name"]: role["id"] for role in answer.data.get("roles", [])}
        for name in (member, coordinator):
            if name not in roles:
                raise RedmineUnavailable(f"Redmine at {self.client.url} has no role named {name!r} "
                                         f"(it has {', '.join(sorted(roles)) or 'none'})")
        self.role_id, self.coordinator_role_id = roles[member], roles[coordinator]
        self.coordinator_role = coordinator

    def ensure_projects(self, groups: dict[str, str], parents: dict[str, str] | None = None) -> None:
        """groups: project identifier -> the working group's (or team's) name; parents: a
        team's subproject identifier -> its working group's project, under which a missing
        subproject is created (parents first)."""
        parents = parents or {}
        for identifier, name in sorted(groups.items(), key=lambda item: item[0] in parents):
            path = f"/projects/{quote(identifier, safe='')}.json"
            answer = self.client.request("GET", path)
            project = Project(identifier)
            if answer.status == 200:
                project.id = answer.data["project"]["id"]
            elif answer.status == 404 and self.check_mode:
                self.changed = True     # a run would create it; no membership of it exists yet
            elif answer.status == 404:
                fields = {"name": name, "identifier": identifier, "is_public": self.project_public}
                parent = parents.get(identifier)
                parent_id = self._parent_id(parent) if parent else None
                if parent and parent_id is None:
                    project.problem = (f"Redmine did not create the subproject {identifier}: its "
                                       f"working group's project {parent} is not there")
                else:
                    if parent_id is not None:
                        fields["parent_id"] = parent_id
                    created = self.client.request("POST", "/projects.json", {"project": fields})
                    if created.status == 201:
                        project.id = created.data["project"]["id"]
                        self.changed = True
                    else:
                        project.problem = (f"Redmine did not create the project {identifier}: "
                                           f"{created.errors()}")
            elif answer.status == 403:
                project.problem = f"the Redmine project {identifier} is archived"
            else:
                project.problem = f"Redmine did not show the project {identifier}: {answer.errors()}"
            self.projects[identifier] = project

    def _parent_id(self, identifier: str) -> int | None:
        """The id of a working group's project, as this run found it or Redmine shows it."""
        known = self.projects.get(identifier)
        if known is not None and known.id is not None:
            return known.id
        answer = self.client.request("GET", f"/projects/{quote(identifier, safe='')}.json")
        return answer.data["project"]["id"] if answer.status == 200 else None

    def find_user(self, login: str) -> dict | None:
        """The account with exactly this login, whatever its status (name= is a fuzzy match)."""
        offset = 0
        while True:
            answer = self.client.request("GET", "/users.json", query={
                "name": login, "status": "", "limit": PAGE, "offset": offset})
            if answer.status != 200:
                raise VolunteerProblem(f"Redmine did not search its accounts: {answer.errors()}")
            users = answer.data.get("users", [])
            for user in users:
                if user.get("login", "").lower() == login.lower():
                    return user
            offset += PAGE
            if not users or offset >= answer.data.get("total_count", 0):
                return None

    def list_accounts(self) -> None:
        """Every account, whatever its status, into `accounts`: a page per PAGE accounts."""
        self.accounts = {user["login"].lower(): user
                         for user in self._pages("/users.json", "users", {"status": ""})}

    def logins_by_id(self, user_ids: set[int]) -> dict[int, str | None]:
        """The logins of these accounts: from `accounts`, and a request for each account
        made since by someone else (None when it is gone)."""
        logins = {user["id"]: user["login"] for user in (self.accounts or {}).values()}
        for user_id in user_ids - logins.keys():
            answer = self.client.request("GET", f"/users/{user_id}.json")
            logins[user_id] = answer.data["user"]["login"] if answer.status == 200 else None
        return logins

    def memberships_of(self, project: Project) -> list[dict]:
        return self._pages(f"/projects/{project.id}/memberships.json", "memberships")

    def _pages(self, path: str, key: str, query: dict | None = None) -> list[dict]:
        found, offset = [], 0
        while True:
            answer = self.client.request("GET", path, query={**(query or {}), "limit": PAGE,
                                                             "offset": offset})
            if answer.status != 200:
                raise RedmineUnavailable(f"Redmine at {self.client.url} did not list {path}: "
                                         f"{answer.errors()}")
            page = answer.data.get(key, [])
            found.extend(page)
            offset += PAGE
            if not page or offset >= answer.data.get("total_count", 0):
                return found

    def user_with_memberships(self, user_id: int) -> dict:
        answer = self.client.request("GET", f"/users/{user_id}.json", query={"include": "memberships"})
        if answer.status != 200:
            raise VolunteerProblem(f"Redmine did not show account {user_id}: {answer.errors()}")
        return answer.data["user"]

    def set_status(self, user_id: int, status: int) -> None:
        self.changed = True
        if self.check_mode:
            return
        answer = self.client.request("PUT", f"/users/{user_id}.json", {"user": {"status": status}})
        if answer.status not in (200, 204):
            raise VolunteerProblem(f"Redmine did not {'unlock' if status == ACTIVE else 'lock'} "
                                   f"the account: {answer.errors()}")

    def delete_user(self, user_id: int) -> None:
        self.changed = True
        if self.check_mode:
            return
        answer = self.client.request("DELETE", f"/users/{user_id}.json")
        if answer.status not in (200, 204, 404):     # 404: gone already
            raise VolunteerProblem(f"Redmine did not delete the account: {answer.errors()}")

    def grant(self, volunteer: dict) -> dict:
        outcome = Outcome()
        groups = volunteer.get("groups") or []
        identifiers = [group["redmine_project"] for group in groups]
        coordinated = [group["redmine_project"] for group in groups if _coordinates(group)]
        try:
            user = self._account(volunteer, outcome)
            if user.get("status", ACTIVE) != ACTIVE:
                self.set_status(user["id"], ACTIVE)
                outcome.done.append("Redmine account unlocked")
            self._converge_mail(user, volunteer["mail"], outcome)
            memberships = _memberships_by_project(user)
            added, given, taken = [], [], []
            for group in groups:
                identifier = group["redmine_project"]
                project = self.projects[identifier]
                if project.problem:
                    outcome.problems.append(project.problem)
                    continue
                coordinator = _coordinates(group)
                membership = memberships.get(project.id)
                if membership is None:
                    membership, made = self._add_member(project, user["id"], coordinator, outcome)
                    if made:
                        added.append(identifier)
                        if coordinator:
                            given.append(identifier)
                if membership is None:
                    continue
                change = self._converge_roles(project, membership, coordinator, outcome)
                if change == GIVEN and identifier not in given:
                    given.append(identifier)
                elif change == TAKEN:
                    taken.append(identifier)
            if added:
                outcome.done.append(f"member of {', '.join(added)}")
            if given:
                outcome.done.append(f"{self.coordinator_role} of {', '.join(given)}")
            if taken:
                outcome.done.append(f"no longer {self.coordinator_role} of {', '.join(taken)}")
        except VolunteerProblem as problem:
            outcome.problems.append(str(problem))
        outcome.unchanged = f"already a member of {', '.join(identifiers) or 'no project'}" + (
            f"; {self.coordinator_role} of {', '.join(coordinated)}" if coordinated else "")
        return outcome.report(self.check_mode)

    def _account(self, volunteer: dict, outcome: Outcome) -> dict:
        """The volunteer's account with its memberships: made now, or the one there already."""
        uid = volunteer["uid"]
        if not volunteer.get("mail"):
            raise VolunteerProblem(f"{uid} has no mail address, which Redmine requires")
        listed = (self.accounts or {}).get(uid.lower())
        if listed is not None:      # a complete batch listed the accounts: no creation to try
            return self.user_with_memberships(listed["id"])
        if self.check_mode:
            found = self.find_user(uid) if self.accounts is None else None
            if found is not None:
                return self.user_with_memberships(found["id"])
            self.changed = True
            outcome.done.append("Redmine account created")
            return {"id": None, "mail": volunteer["mail"], "memberships": []}
        firstname, lastname = split_name(volunteer.get("display_name"), uid)
        answer = self.client.request("POST", "/users.json", {"user": {
            "login": uid, "firstname": firstname, "lastname": lastname,
            "mail": volunteer["mail"], "auth_source_id": self.auth_source_id}})
        if answer.status == 201:
            self.changed = True
            outcome.done.append("Redmine account created")
            if self.accounts is not None:
                self.accounts[uid.lower()] = answer.data["user"]
            return {**answer.data["user"], "memberships": []}
        if answer.status == 422:
            # "Login has already been taken", in the administrator's language; but the
            # mail address may be the one taken, by another account: look.
            found = self.find_user(uid)
            if found is not None:
                if self.accounts is not None:
                    self.accounts[uid.lower()] = found
                if answer.taken_by_us():
                    self.changed = True
                    outcome.done.append("Redmine account created")
                return self.user_with_memberships(found["id"])
        raise VolunteerProblem(f"Redmine did not create an account for {uid}: {answer.errors()}")

    def _converge_mail(self, user: dict, mail: str, outcome: Outcome) -> None:
        """Give the account the directory's address if it has another (changed since)."""
        if user.get("mail") == mail:
            return
        if self.check_mode:
            self.changed = True
            outcome.done.append("Redmine account's address changed")
            return
        answer = self.client.request("PUT", f"/users/{user['id']}.json", {"user": {"mail": mail}})
        if answer.status in (200, 204):
            self.changed = True
            outcome.done.append("Redmine account's address changed")
        elif answer.status == 422:
            outcome.problems.append(f"Redmine did not change the account's address to {mail}, "
                                    f"which another Redmine account may hold: {answer.errors()}")
        else:
            outcome.problems.append(f"Redmine did not change the account's address: {answer.errors()}")

    def _add_member(self, project: Project, user_id: int, coordinator: bool,
                    outcome: Outcome) -> tuple[dict | None, bool]:
        """The membership as Redmine holds it (None when it refused it), and whether it
        was added now."""
        roles = [self.role_id] + ([self.coordinator_role_id] if coordinator else [])
        if self.check_mode:
            self.changed = True
            return {"roles": [{"id": role} for role in dict.fromkeys(roles)]}, True
        answer = self.client.request(
            "POST", f"/projects/{project.id}/memberships.json",
            {"membership": {"user_id": user_id, "role_ids": list(dict.fromkeys(roles))}})
        if answer.status == 201:
            self.changed = True
            return answer.data.get("membership") or {"roles": [{"id": role} for role in roles]}, True
        # 422 "User has already been taken" (in any language): done, if it is there.
        found = None
        if answer.status == 422:
            found = _memberships_by_project(self.user_with_memberships(user_id)).get(project.id)
        if found is None:
            outcome.problems.append(f"Redmine did not add the membership of {project.identifier}: "
                                    f"{answer.errors()}")
            return None, False
        self.changed = self.changed or answer.taken_by_us()
        return found, answer.taken_by_us()

    def _converge_roles(self, project: Project, membership: dict, coordinator: bool,
                        outcome: Outcome) -> str | None:
        """Give or take the coordinators' role in this membership: GIVEN, TAKEN or None.

        Roles the membership inherits (from a group or a parent project) are not its
        own and stay out of the PUT, which replaces the membership's own roles.
        """
        own = [role["id"] for role in membership.get("roles", []) if not role.get("inherited")]
        if coordinator:
            wanted = own if self.coordinator_role_id in own else [*own, self.coordinator_role_id]
        else:
            wanted = [role for role in own if role != self.coordinator_role_id] or [self.role_id]
        if wanted == own:
            return None
        if self.check_mode:
            self.changed = True
            return GIVEN if coordinator else TAKEN
        answer = self.client.request("PUT", f"/memberships/{membership['id']}.json",
                                     {"membership": {"role_ids": wanted}})
        if answer.status not in (200, 204):
            outcome.problems.append(f"Redmine did not {'give' if coordinator else 'take'} the role "
                                    f"{self.coordinator_role} in {project.identifier}: {answer.errors()}")
            return None
        self.changed = True
        return GIVEN if coordinator else TAKEN

    def revoke(self, volunteer: dict) -> dict:
        outcome = Outcome()
        identifiers = [group["redmine_project"] for group in volunteer.get("groups") or []]
        try:
            found = (self.find_user(volunteer["uid"]) if self.accounts is None
                     else self.accounts.get(volunteer["uid"].lower()))
            if found is None:
                outcome.unchanged = "no Redmine account"
                return outcome.report(self.check_mode)
            user = self.user_with_memberships(found["id"])
            to_leave = {}
            for identifier in identifiers:
                project = self.projects[identifier]
                if project.problem:
                    outcome.problems.append(project.problem)
                else:
                    to_leave[project.id] = identifier
            remaining, left = [], []
            for membership in user.get("memberships", []):
                identifier = to_leave.get(membership.get("project", {}).get("id"))
                if identifier is None:
                    remaining.append(membership)
                    continue
                if self.check_mode:
                    self.changed = True
                    left.append(identifier)
                    continue
                answer = self.client.request("DELETE", f"/memberships/{membership['id']}.json")
                if answer.status in (200, 204):
                    self.changed = True
                    left.append(identifier)
                elif answer.status != 404:    # 404: gone already
                    remaining.append(membership)
                    outcome.problems.append(f"Redmine kept the membership of {identifier}: "
                                            f"{answer.errors()}")
            if left:
                outcome.done.append(f"left {', '.join(left)}")
            if volunteer.get("forget") is True and not outcome.problems:
                self.delete_user(user["id"])
                outcome.done.append("Redmine account deleted")
            elif not remaining and not outcome.problems and user.get("status") != LOCKED:
                self.set_status(user["id"], LOCKED)
                outcome.done.append("Redmine account locked")
        except VolunteerProblem as problem:
            outcome.problems.append(str(problem))
        outcome.unchanged = f"not a member of {', '.join(identifiers) or 'any project'}"
        return outcome.report(self.check_mode)

    def remove_extra(self, extra: Extra) -> dict:
        """Take what `extra` holds in the working groups' projects, membership and roles."""
        outcome = Outcome()
        removed, trimmed, gone = [], [], []
        for project, membership in extra.memberships:
            if self.check_mode:
                self.changed = True
                removed.append(project.identifier)
                continue
            answer = self.client.request("DELETE", f"/memberships/{membership['id']}.json")
            if answer.status == 422:
                # Redmine deletes no membership that inherits a role (from the parent
                # project, or a Redmine group of this one left in place): take the roles
                # that are its own; Redmine keeps the inherited ones in the PUT.
                answer = self.client.request("PUT", f"/memberships/{membership['id']}.json",
                                             {"membership": {"role_ids": []}})
                done = trimmed
            else:
                done = removed
            if answer.status in (200, 204):
                self.changed = True
                done.append(project.identifier)
            elif answer.status == 404:
                gone.append(project.identifier)
            else:
                outcome.problems.append(f"Redmine kept the membership of {project.identifier}: "
                                        f"{answer.errors()}")
        why = ("the directory gives working groups to its accounts, never to a Redmine group"
               if extra.is_group else
               f"the directory does not give them {'this group' if len(removed) == 1 else 'these groups'}")
        if removed:
            outcome.done.append(f"removed from the project{'s' * (len(removed) > 1)} "
                                f"{', '.join(removed)}: {why}")
        if trimmed:
            outcome.done.append(f"roles of their own taken in {', '.join(trimmed)}; what they "
                                "inherit there from a parent project or a Redmine group stays")
        outcome.unchanged = f"no longer in {', '.join(gone)}"
        return outcome.report(self.check_mode)


@dataclass
class Extra:
    """Someone in working groups' projects whom the batch does not grant those groups."""
    name: str       # the account's login, or the Redmine group's name
    is_group: bool
    memberships: list[tuple[Project, dict]] = field(default_factory=list)


def find_extras(access: RedmineAccess, volunteers: list[dict], groups: list[dict],
                connections: int) -> list[Extra]:
    """The extras of the complete batch's `groups`: one listing of each project's members.

    A project Redmine did not show (archived, not created) is left: its problem is each of
    its volunteers' (a complete batch revokes every group of any other account); one check
    mode has yet to create has nobody in it.
    """
    wanted: dict[str, set[str]] = {}
    for group in groups:
        logins = wanted.setdefault(group["redmine_project"], set())
        logins.update(volunteer["uid"].lower() for volunteer in granted(volunteers, group["slug"]))
    projects = [access.projects[identifier] for identifier in wanted
                if access.projects[identifier].id is not None]
    with ThreadPoolExecutor(max_workers=max(1, connections)) as pool:
        listings = list(pool.map(access.memberships_of, projects))
    logins = access.logins_by_id({membership["user"]["id"] for listing in listings
                                  for membership in listing if "user" in membership})
    extras: dict[tuple[bool, str], Extra] = {}
    for project, listing in zip(projects, listings, strict=True):
        for membership in listing:
            if all(role.get("inherited") for role in membership.get("roles", [])):
                # Given by the parent project (inherit members) or a Redmine group of this
                # one: Redmine refuses to delete it, and it goes with what gives it (a
                # Redmine group here is itself extra; the parent is no working group's).
                continue
            if "group" in membership:
                name, is_group = membership["group"]["name"], True
            elif "user" in membership:
                name, is_group = logins.get(membership["user"]["id"]), False
                if name is None or name.lower() in wanted[project.identifier]:
                    continue    # gone meanwhile, or granted the group
            else:
                # group_anonymous, group_non_member: Redmine's built-in groups hold the roles
                # of anyone (logged in) who is no member, and count only in a public project,
                # which the deployment chooses (project_public): a setting, not a person.
                continue
            extras.setdefault((is_group, name), Extra(name, is_group)).memberships.append(
                (project, membership))
    return list(extras.values())


def converge_groups(access: RedmineAccess, volunteers: list[dict], groups: list[dict],
                    connections: int, results: dict[str, dict]) -> None:
    """Remove the complete batch's extras, `connections` at a time, into `results` by name.

    Redmine groups go first: the roles they give their users in a project go with them,
    so that a user's own membership can then be deleted.
    """
    extras = find_extras(access, volunteers, groups, connections)
    with ThreadPoolExecutor(max_workers=max(1, connections)) as pool:
        for is_group in (True, False):
            wave = [extra for extra in extras if extra.is_group is is_group]
            reports = pool.map(lambda extra: outcome_of(
                {"uid": extra.name}, lambda _: access.remove_extra(extra),
                service_errors=(RedmineUnavailable,), service_answers=access.answers), wave)
            for extra, report in zip(wave, reports, strict=True):
                results[extra.name] = report


def _memberships_by_project(user: dict) -> dict[int, dict]:
    return {membership["project"]["id"]: membership for membership in user.get("memberships", [])
            if "project" in membership}


def _coordinates(group: dict) -> bool:
    """Whether the batch says the volunteer coordinates this group (owns its LDAP group)."""
    return group.get("coordinator") is True


def act_on_batch(access: RedmineAccess, volunteers: list[dict], connections: int,
                 results: dict[str, dict]) -> None:
    """Grant or revoke each volunteer, `connections` at a time, into `results` by uid.

    A uid's entries run in order on one thread. When Redmine as a whole fails, no
    volunteer is started after it and the first such error is raised, as one at a
    time would; `results` keeps every volunteer finished before it.
    """
    by_uid: dict[str, list[dict]] = {}
    for volunteer in volunteers:
        by_uid.setdefault(volunteer["uid"], []).append(volunteer)
    unavailable = threading.Event()

    def act_on(entries: list[dict]) -> None:
        for volunteer in entries:
            if unavailable.is_set():
                return
            act = access.revoke if volunteer["action"] == "revoke" else access.grant
            try:
                results[volunteer["uid"]] = outcome_of(volunteer, act, service_errors=(RedmineUnavailable,),
                                                       service_answers=access.answers)
            except RedmineUnavailable:
                unavailable.set()
                raise

    with ThreadPoolExecutor(max_workers=max(1, connections)) as pool:
        futures = [pool.submit(act_on, entries) for entries in by_uid.values()]
    errors = [future.exception() for future in futures if future.exception() is not None]
    if errors:
        raise errors[0]


def batch_projects(volunteers: list[dict]) -> dict[str, str]:
    projects = {}
    for volunteer in volunteers:
        for group in volunteer.get("groups") or []:
            projects.setdefault(group["redmine_project"], group.get("name") or group["redmine_project"])
    return projects


def batch_parents(volunteers: list[dict]) -> dict[str, str]:
    """A team's subproject -> its working group's project, as the batch names them."""
    return {group["redmine_project"]: group["parent_redmine_project"]
            for volunteer in volunteers for group in volunteer.get("groups") or []
            if isinstance(group.get("parent_redmine_project"), str)}


def run(access: RedmineAccess, roles: tuple[str, str], volunteers: list[dict],
        complete_groups: list[dict] | None, connections: int,
        results: dict[str, dict], extra: dict[str, dict]) -> None:
    """The task: the batch's volunteers into `results`, a complete batch's extras into
    `extra`. roles: the members' and the coordinators' role names."""
    access.check_administrator()
    access.resolve_roles(*roles)
    if complete_groups is not None:
        access.list_accounts()
    everyone = volunteers + [{"groups": complete_groups or []}]
    access.ensure_projects(batch_projects(everyone), batch_parents(everyone))
    act_on_batch(access, volunteers, connections, results)
    if complete_groups is not None:
        converge_groups(access, volunteers, complete_groups, connections, extra)


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "required": True},
        "api_key": {"type": "str", "required": True, "no_log": True},
        "auth_source_id": {"type": "int", "required": True},
        "role": {"type": "str", "default": "Developer"},
        "coordinator_role": {"type": "str", "default": "Manager"},
        "project_public": {"type": "bool", "default": False},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 30},
        "connections": {"type": "int", "default": 8},
        "batch_file": {"type": "path", "required": True},
    }, supports_check_mode=True)
    params = module.params
    try:
        volunteers = read_batch(params["batch_file"])
        complete_groups = read_complete_groups(params["batch_file"])
    except BatchFileError as error:
        module.fail_json(msg=str(error), service="redmine")
    results: dict[str, dict] = {}
    extra: dict[str, dict] = {}
    access = None
    try:
        client = ClientPerThread(params["url"], params["api_key"], params["timeout"],
                                 params["validate_certs"])
        access = RedmineAccess(client, params["auth_source_id"], params["project_public"],
                               check_mode=module.check_mode)
        try:
            run(access, (params["role"], params["coordinator_role"]), volunteers, complete_groups,
                params["connections"], results, extra)
        finally:
            client.close()
    except RedmineUnavailable as error:
        unreached = {"status": "failed", "message": f"not done: {error}"}
        module.fail_json(msg=str(error), service="redmine",
                         changed=access is not None and access.changed,
                         volunteers={volunteer["uid"]: results.get(volunteer["uid"], unreached)
                                     for volunteer in volunteers}, extra=extra)
    module.exit_json(changed=access.changed, service="redmine", volunteers=results, extra=extra)


if __name__ == "__main__":
    main()
