#!/usr/bin/python
"""Ansible module: a batch of volunteers' memberships and coordinator roles on their working groups' lists."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mailman_members
short_description: Grant or revoke a batch of volunteers' working-group mailing lists on Mailman 3
description:
  - Makes sure the domain and the list C(<list_name>@<domain>) of every working group in
    the batch exist, then subscribes each volunteer to grant (pre-verified, pre-confirmed,
    pre-approved, no welcome message) and unsubscribes each volunteer to revoke, through
    the Mailman 3 core REST API, over one HTTP connection object for the whole batch.
  - Every list of the batch keeps its archive private to its members (C(archive_policy)
    private) and lets nobody in without its moderators (C(subscription_policy) moderate,
    unless already confirm_then_moderate), since a self-subscription would open the
    archive; an existing list that differs is set so.
  - A volunteer to grant whose group entry says C(coordinator) true is the list's owner
    and moderator; false or absent, those roles are taken away if held. A revoke takes
    the membership and both roles; a revoke marked C(forget) (a deleted account) then
    deletes Mailman's user and address records of C(mail) too.
  - A volunteer to grant with a C(previous_mail) (the address they changed from) loses
    that address's membership, owner and moderator roles on each of their groups' lists
    first, then gets them on C(mail) as usual, so list mail follows the new address.
  - >-
    A complete batch (C(complete.groups), a reconciliation) first makes every listed group's
    list exist and stay closed as a grant does, handles its volunteers as usual, then goes
    through each such list's member, owner and moderator rosters and takes that role from
    every address the batch does not account for - a stranger subscribed by hand, an owner
    made by hand, an account the batch does not grant the group. Accounted for are the
    C(mail) of each volunteer it grants the group (and their C(previous_mail), which the
    grant moves) and the C(mail) of each volunteer it revokes the group from (their own
    outcome says what the revoke took); a volunteer's owner and moderator roles follow
    their C(coordinator) as for any grant. Only roles are taken, never a Mailman user or
    address record. The listed lists' rosters are read once and answer each volunteer's
    subscription and roles, so a list rebuilt empty is refilled with one request per
    volunteer, and a run with nothing to do makes none per volunteer.
  - >-
    Left alone deliberately: nothing the deployment sets is on a list's rosters (the
    mailman_server role and the private stack create lists without owners; Mailman's
    C(site_owner) lives in its configuration and receives a list's owner mail only while
    the list has no owner or moderator, so taking a hand-made owner falls back to it), and
    nonmember entries, which are posting rules for people who are not on the list and give
    no membership or archive access.
  - >-
    Any batch reads each of its lists' owner and moderator rosters once (a list has few), so
    a volunteer's roles cost no request unless they change; a subscription costs one.
  - Answers that mean "already done" count as done (HTTP 409 on subscribe, 404 on
    unsubscribe), so a second run changes nothing.
  - Reads the batch from I(batch_file) itself, so that what volunteers typed is never
    templated by Ansible.
  - Reports per volunteer under C(volunteers), with C(service=lists). The task fails
    only when the REST API cannot be used at all (down, wrong credentials); a request
    refused or failed for one volunteer while Mailman still answers fails that volunteer.
extends_documentation_fragment: [volunteer_batch]
options:
  url: {description: "the REST API's root, for example http://127.0.0.1:8001", type: str, required: true}
  user: {description: the REST admin user, type: str, required: true}
  password: {description: its password, type: str, required: true, no_log: true}
  domain: {description: "the lists' mail domain, for example lists.occupy.example", type: str, required: true}
  welcome_message: {description: send Mailman's welcome message on subscribe, type: bool, default: false}
  timeout: {description: seconds to wait for each answer, type: float, default: 10}
"""

EXAMPLES = r"""
- name: Subscribe or unsubscribe the volunteers on their working groups' mailing lists
  mailman_members:
    url: http://127.0.0.1:8001
    user: restadmin
    password: "{{ vault_mailman_rest_password }}"
    domain: lists.occupy.example
    batch_file: "{{ provisioner_batch_file }}"
"""

RETURN = r"""
service: {description: always C(lists), returned: always, type: str}
volunteers:
  description: >-
    by uid, C({status, message}): C(changed) when subscribed, unsubscribed, made or no
    longer owner and moderator now, or a previous address taken off a list, C(ok) when
    already so, C(failed) with the reason
  returned: always
  type: dict
extra:
  description: >-
    filled by a complete batch only (empty otherwise): by address as Mailman holds it,
    C({status, message}) for each address found on a listed group's list that the batch does
    not account for; C(changed) with what was taken where, for example C(removed from
    wg-kitchen@lists.example.org's members: the directory does not give them this group)
    (in check mode prefixed C(would be done: ), nothing written), C(ok) when someone else
    removed it meanwhile, C(failed) with the reason
  returned: always
  type: dict
"""

import base64
import http.client
import json
import ssl
from urllib.parse import quote, urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.volunteer_batch import (
    BatchFileError,
    granted,
    outcome_of,
    read_batch,
    read_complete_groups,
)

SERVICE = "lists"
API = "/3.1"
# What a working group's list must keep: archives for members only, and no way in
# (a self-subscription from the list's page) that its moderators did not approve.
CLOSED_LIST = {"archive_policy": "private", "subscription_policy": "moderate"}
MODERATED_POLICIES = ("moderate", "confirm_then_moderate")
COORDINATOR_ROLES = ("owner", "moderator")
ROLES = ("member", *COORDINATOR_ROLES)
ADDED = ""      # in a roster read whole: added by this run, its member id not read


class MailmanUnavailable(Exception):
    """The REST API cannot be used at all: the whole service fails."""


class MailmanRefused(Exception):
    """One request was refused: only what depends on it fails."""

    def __init__(self, status: int, description: str):
        super().__init__(f"HTTP {status}: {description}")
        self.status = status
        self.description = description


class MailmanAPI:
    """One HTTP connection object for the whole batch.

    http.client keeps the connection open while the server allows it and opens a
    new one when the server closes it (gunicorn's sync workers close after each answer).
    """

    def __init__(self, url: str, user: str, password: str, timeout: float):
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MailmanUnavailable(f"{url!r} is not an http:// or https:// URL")
        self.url = url
        self.user = user
        self.prefix = parts.path
        if parts.scheme == "https":
            self.connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                                          context=ssl.create_default_context())
        else:
            self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def close(self) -> None:
        self.connection.close()

    def answers(self) -> bool:
        """Whether the REST API serves at all: tells one request's failure from Mailman's."""
        return self.call("GET", "/system/versions")[0] == 200

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(status, JSON answer) for any status below 500 other than 401/403, which stop everything."""
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.connection.request(method, self.prefix + API + path, body=payload, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                # A kept-alive connection the server had closed: one new try is safe,
                # since every call here is idempotent in effect (409 and 404 mean done).
                self.connection.close()
                if attempt == 2:
                    raise MailmanUnavailable(
                        f"Mailman REST API at {self.url} does not answer: {error}") from error
            except (OSError, http.client.HTTPException) as error:
                self.connection.close()
                raise MailmanUnavailable(
                    f"Mailman REST API at {self.url} does not answer: {error or type(error).__name__}"
                ) from error
        status = response.status
        if status in (401, 403):
            raise MailmanUnavailable(f"Mailman REST API at {self.url} refused the user "
                                     f"{self.user!r} and its password (HTTP {status})")
        if status >= 500:
            raise MailmanUnavailable(f"Mailman REST API at {self.url} failed: HTTP {status} "
                                     f"{_description(data)}")
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {"description": data.decode(errors="replace")[:200]}
        return status, answer if isinstance(answer, dict) else {}


def _segment(value: str) -> str:
    """One path segment of a URL, whatever characters it holds."""
    return quote(value, safe="@")


def _description(data: bytes) -> str:
    try:
        answer = json.loads(data)
    except ValueError:
        return data.decode(errors="replace")[:200]
    if isinstance(answer, dict):
        return str(answer.get("description") or answer.get("title") or answer)
    return str(answer)


class ListsProvisioner:
    """The batch's work on one Mailman, in the order the API needs it."""

    def __init__(self, api: MailmanAPI, domain: str, *, welcome_message: bool, dry_run: bool):
        self.api = api
        self.domain = domain
        self.welcome_message = welcome_message
        self.dry_run = dry_run
        self.changed = False
        self.send_welcome_flag = True    # dropped if this Mailman does not know the parameter
        # (list id, role) -> {address lowercased: member id, or ADDED}, for the lists read whole.
        self.known: dict[tuple[str, str], dict[str, str]] = {}

    # Structure: the domain and the working groups' lists.

    def ensure_domain(self) -> None:
        path = f"/domains/{_segment(self.domain)}"
        status, answer = self.api.call("GET", path)
        if status == 200:
            return
        if status != 404:
            raise MailmanUnavailable(f"Mailman REST API at {self.api.url} cannot read the domain "
                                     f"{self.domain}: HTTP {status} {answer.get('description', '')}")
        self.changed = True
        if self.dry_run:
            return
        status, answer = self.api.call("POST", "/domains", {"mail_host": self.domain})
        created_meanwhile = status == 400 and self.api.call("GET", path)[0] == 200
        if status != 201 and not created_meanwhile:
            raise MailmanUnavailable(f"Mailman at {self.api.url} did not create the domain "
                                     f"{self.domain}: HTTP {status} {answer.get('description', '')}")

    def ensure_list(self, list_name: str, display_name: str) -> None:
        """Raises MailmanRefused when the list can neither be found nor created, nor closed."""
        list_id = self.list_id(list_name)
        if self._exists(f"/lists/{_segment(list_id)}"):
            self.ensure_closed(list_id)
            return
        self.changed = True
        if self.dry_run:
            return
        status, answer = self.api.call("POST", "/lists", {"fqdn_listname": self.address(list_name)})
        if status == 400 and self._exists(f"/lists/{_segment(list_id)}"):
            self.ensure_closed(list_id)     # created meanwhile: only its settings to check
            return
        if status != 201:
            raise MailmanRefused(status, answer.get("description", "no reason given"))
        self._patch_config(list_id, CLOSED_LIST)
        # The name people see in the list's mails and pages; a refusal here is cosmetic.
        self.api.call("PATCH", f"/lists/{_segment(list_id)}/config", {"display_name": display_name})

    def ensure_closed(self, list_id: str) -> None:
        status, config = self.api.call("GET", f"/lists/{_segment(list_id)}/config")
        if status != 200:
            raise MailmanRefused(status, config.get("description", "no reason given"))
        wrong = {name: value for name, value in CLOSED_LIST.items() if config.get(name) != value}
        if config.get("subscription_policy") in MODERATED_POLICIES:
            wrong.pop("subscription_policy", None)
        if not wrong:
            return
        self.changed = True
        if not self.dry_run:
            self._patch_config(list_id, wrong)

    def _patch_config(self, list_id: str, settings: dict) -> None:
        status, answer = self.api.call("PATCH", f"/lists/{_segment(list_id)}/config", settings)
        if status not in (200, 204):
            raise MailmanRefused(status, answer.get("description", "no reason given"))

    def _exists(self, path: str) -> bool:
        status, answer = self.api.call("GET", path)
        if status in (200, 404):
            return status == 200
        raise MailmanRefused(status, answer.get("description", "no reason given"))

    def address(self, list_name: str) -> str:
        return f"{list_name}@{self.domain}"

    def list_id(self, list_name: str) -> str:
        return f"{list_name}.{self.domain}"

    # Membership.

    def read_rosters(self, list_name: str, roles: tuple[str, ...] = ROLES) -> None:
        """Read the list's rosters of `roles` once, so that each volunteer's subscription and
        roles are answered from them rather than with a request each (a complete batch names
        everyone, so its lists are read whole anyway; any batch reads the few owners and
        moderators). Someone else's change meanwhile still counts as done: a subscription
        already there answers 409, a removal already made 404."""
        list_id = self.list_id(list_name)
        for role in roles:
            self.known[(list_id, role)] = {str(entry.get("email") or "").lower(): str(entry["member_id"])
                                           for entry in self.roster(list_name, role)}

    def subscribe(self, list_name: str, mail: str, display_name: str) -> bool:
        """True if subscribed now, False if already a member."""
        list_id = self.list_id(list_name)
        known = self.known.get((list_id, "member"))
        if known is not None and mail.lower() in known:
            return False
        if self.dry_run:
            return self._member_id(list_id, mail) is None
        body = {"list_id": list_id, "subscriber": mail, "display_name": display_name,
                "pre_verified": True, "pre_confirmed": True, "pre_approved": True}
        if self.send_welcome_flag:
            body["send_welcome_message"] = self.welcome_message
        status, answer = self.api.call("POST", "/members", body)
        description = str(answer.get("description", ""))
        if status == 400 and "send_welcome_message" in description and self.send_welcome_flag:
            # An older Mailman: subscribe without the flag (the list's own setting applies).
            self.send_welcome_flag = False
            return self.subscribe(list_name, mail, display_name)
        if status == 201:
            self._note_added(list_id, mail, "member")
            return True
        if status == 409 and "already subscribed" in description.lower():
            return False
        if status == 202:
            raise MailmanRefused(status, "Mailman holds the subscription for confirmation or approval")
        raise MailmanRefused(status, description or "no reason given")

    def unsubscribe(self, list_name: str, mail: str) -> bool:
        """True if unsubscribed now, False if not a member."""
        return self._remove(self.list_id(list_name), mail, "member")

    def set_coordinator(self, list_name: str, mail: str, coordinator: bool) -> bool:
        """Make `mail` the list's owner and moderator, or neither; True if a role changed now."""
        list_id = self.list_id(list_name)
        changed = False
        for role in COORDINATOR_ROLES:
            if coordinator:
                changed |= self._add_role(list_id, mail, role)
            else:
                changed |= self._remove(list_id, mail, role)
        return changed

    def forget(self, list_name: str, mail: str) -> bool:
        """Take every role `mail` holds on the list (member, owner, moderator); True if one went now."""
        list_id = self.list_id(list_name)
        changed = False
        for role in ROLES:
            changed |= self._remove(list_id, mail, role)
        return changed

    def delete_records(self, mail: str) -> bool:
        """Delete Mailman's user of `mail` (with its addresses) and a bare address record left;
        True if one went now."""
        if self.dry_run:
            return any(self._exists(f"/{kind}/{_segment(mail)}") for kind in ("users", "addresses"))
        changed = False
        for kind in ("users", "addresses"):
            status, answer = self.api.call("DELETE", f"/{kind}/{_segment(mail)}")
            if status in (200, 204):
                changed = True
            elif status != 404:               # 404: none, or gone with the user
                raise MailmanRefused(status, answer.get("description", "no reason given"))
        return changed

    def _add_role(self, list_id: str, mail: str, role: str) -> bool:
        if self._member_id(list_id, mail, role) is not None:
            return False
        if self.dry_run:
            return True
        status, answer = self.api.call("POST", "/members", {
            "list_id": list_id, "subscriber": mail, "role": role,
            "pre_verified": True, "pre_confirmed": True, "pre_approved": True})
        if status in (201, 409):             # 409: added meanwhile, already done
            self._note_added(list_id, mail, role)
        if status == 201:
            return True
        if status == 409:
            return False
        raise MailmanRefused(status, str(answer.get("description", "")) or "no reason given")

    def _remove(self, list_id: str, mail: str, role: str) -> bool:
        """True if `mail` held `role` on the list and no longer does."""
        member_id = self._member_id(list_id, mail, role)
        if member_id is None:
            return False
        removed = self.remove_member(member_id)
        self.known.get((list_id, role), {}).pop(mail.lower(), None)
        return removed

    def remove_member(self, member_id: str) -> bool:
        """Delete one membership (of any role) found on a list; True if it went now."""
        if self.dry_run:
            return True
        status, answer = self.api.call("DELETE", f"/members/{_segment(str(member_id))}")
        if status in (204, 200):
            return True
        if status == 404:
            return False                     # removed meanwhile: already done
        raise MailmanRefused(status, answer.get("description", "no reason given"))

    def roster(self, list_name: str, role: str) -> list[dict]:
        """Who holds `role` on the list, each {email, member_id, ...}; none if the list is not
        there yet (a check run that would create it)."""
        status, answer = self.api.call("GET", f"/lists/{_segment(self.list_id(list_name))}/roster/{role}")
        if status == 404:
            return []
        if status != 200:
            raise MailmanRefused(status, answer.get("description", "no reason given"))
        return [entry for entry in answer.get("entries") or [] if isinstance(entry, dict)]

    def _note_added(self, list_id: str, mail: str, role: str) -> None:
        known = self.known.get((list_id, role))
        if known is not None:
            known[mail.lower()] = ADDED

    def _member_id(self, list_id: str, mail: str, role: str = "member") -> str | None:
        known = self.known.get((list_id, role))
        if known is not None and known.get(mail.lower()) != ADDED:
            return known.get(mail.lower())
        status, answer = self.api.call("GET", f"/lists/{_segment(list_id)}/{role}/{_segment(mail)}")
        if status == 404:
            return None
        if status != 200 or "member_id" not in answer:
            raise MailmanRefused(status, answer.get("description", "no reason given"))
        return answer["member_id"]


def provision(lists: ListsProvisioner, volunteers: list[dict], outcomes: dict,
              complete_groups: list[dict] | None = None) -> dict[str, dict]:
    """Fill in every volunteer's outcome; for a complete batch, then take the listed groups'
    lists from everyone else, and return what became of each of them (by address).
    MailmanUnavailable stops the batch half-way."""
    lists.ensure_domain()
    granted_groups = [group for volunteer in volunteers if volunteer.get("action") == "grant"
                      for group in volunteer.get("groups") or []]
    broken = ensure_lists(lists, [*granted_groups, *(complete_groups or [])])
    read = {group["list_name"]: ROLES for group in complete_groups or []}
    for volunteer in volunteers:
        for group in volunteer.get("groups") or []:
            read.setdefault(group["list_name"], COORDINATOR_ROLES)
    for name, roles in read.items():
        try:
            if name not in broken:
                lists.read_rosters(name, roles)
        except MailmanRefused as error:
            broken[name] = f"the rosters of {lists.address(name)} cannot be read ({error})"
    for volunteer in volunteers:
        outcomes[volunteer["uid"]] = outcome_of(
            volunteer, lambda one: volunteer_outcome(lists, one, broken),
            service_errors=(MailmanUnavailable,), service_answers=lists.api.answers)
    if complete_groups is None:
        return {}
    extras = Extras(lists.dry_run)
    for group in complete_groups:
        if group["list_name"] not in broken:
            take_from_extras(lists, group, answered_for(volunteers, group["slug"]), extras)
    if extras.changed:
        lists.changed = True
    return extras.outcomes()


def ensure_lists(lists: ListsProvisioner, groups: list[dict]) -> dict[str, str]:
    """Make every group's list exist and stay closed: list name -> why it cannot be used."""
    broken: dict[str, str] = {}
    seen = set()
    for group in groups:
        name = group["list_name"]
        if name in seen:
            continue
        seen.add(name)
        try:
            lists.ensure_list(name, group.get("name") or name)
        except MailmanRefused as error:
            broken[name] = f"the list {lists.address(name)} cannot be created ({error})"
    return broken


def answered_for(volunteers: list[dict], slug: str) -> set[str]:
    """The addresses (lowercase, as Mailman compares them) on a group's list that the batch's
    volunteers account for: the mail of each it grants the group, and the previous_mail their
    grant moves off (still there in check mode); and the mail of each it revokes the group
    from, whose own outcome reports what the revoke took (a check run leaves it there)."""
    addresses = set()
    for volunteer in granted(volunteers, slug):
        addresses |= {volunteer.get("mail"), volunteer.get("previous_mail")}
    for volunteer in volunteers:
        if volunteer.get("action") == "revoke" and any(
                group.get("slug") == slug for group in volunteer.get("groups") or []):
            addresses.add(volunteer.get("mail"))
    return {address.lower() for address in addresses if isinstance(address, str) and address}


def take_from_extras(lists: ListsProvisioner, group: dict, accounted: set[str], extras: Extras) -> None:
    """Take each role (member, owner, moderator) on the group's list from every address the
    batch does not account for. Nothing the deployment itself sets is on a list's rosters:
    Mailman's site owner is its configuration's, and gets a list's owner mail only while the
    list has no owner. Nonmember entries (posting rules for people not on the list) give no
    membership and are left as the list's moderators set them."""
    name = group["list_name"]
    list_address = lists.address(name)
    for role in ROLES:
        try:
            entries = lists.roster(name, role)
        except MailmanRefused as error:
            raise MailmanUnavailable(f"Mailman at {lists.api.url} does not give the {role}s of "
                                     f"{list_address}: {error}") from None
        for entry in entries:
            address = str(entry.get("email") or "")
            if address.lower() in accounted:
                continue
            try:
                extras.record(address, list_address, role, lists.remove_member(str(entry["member_id"])))
            except MailmanRefused as error:
                extras.fail(address, f"could not remove them from {list_address}'s {role}s ({error})")


class Extras:
    """What a complete batch took from addresses it does not grant a group, by address."""

    def __init__(self, dry_run: bool):
        self.dry_run = dry_run
        self.taken: dict[str, list[tuple[str, str]]] = {}      # address -> [(list address, role)]
        self.gone: dict[str, list[tuple[str, str]]] = {}       # removed meanwhile, by someone else
        self.failures: dict[str, list[str]] = {}

    def record(self, address: str, list_address: str, role: str, removed_now: bool) -> None:
        (self.taken if removed_now else self.gone).setdefault(address, []).append((list_address, role))

    def fail(self, address: str, problem: str) -> None:
        self.failures.setdefault(address, []).append(problem)

    @property
    def changed(self) -> bool:
        return bool(self.taken)

    def outcomes(self) -> dict[str, dict]:
        return {address: self._outcome(address) for address in {**self.taken, **self.gone, **self.failures}}

    def _outcome(self, address: str) -> dict:
        taken = self.taken.get(address, [])
        parts = []
        if taken:
            reason = "this group" if len({where for where, _ in taken}) == 1 else "these groups"
            parts.append(f"{'would be done: ' if self.dry_run else ''}removed from {_places(taken)}: "
                         f"the directory does not give them {reason}")
        if address in self.gone:
            parts.append(f"already gone from {_places(self.gone[address])}")
        parts += self.failures.get(address, [])
        status = "failed" if address in self.failures else "changed" if taken else "ok"
        return {"status": status, "message": "; ".join(parts)}


def _places(roles: list[tuple[str, str]]) -> str:
    return ", ".join(f"{list_address}'s {role}s" for list_address, role in roles)


def volunteer_outcome(lists: ListsProvisioner, volunteer: dict, broken: dict[str, str]) -> dict:
    action = volunteer.get("action")
    mail = volunteer.get("mail")
    groups = volunteer.get("groups") or []
    names = [group["list_name"] for group in groups]
    # The worker marks each group the volunteer coordinates; a missing key means false.
    coordinating = {group["list_name"] for group in groups if group.get("coordinator") is True}
    if action not in ("grant", "revoke"):
        return {"status": "failed", "message": f"unknown action {action!r}"}
    if not names:
        return {"status": "ok", "message": "no working group, so no list"}
    if not mail:
        return {"status": "failed",
                "message": "no mail address in the directory, so no subscription can be found or made"}
    previous = volunteer.get("previous_mail") if action == "grant" else None
    if not isinstance(previous, str) or previous.lower() == mail.lower():
        previous = None     # Mailman compares addresses without their case: it is the same one
    done, already, moved, failures = [], [], [], []
    roles = Roles()
    for name in names:
        if name in broken:
            failures.append(broken[name])
            continue
        address = lists.address(name)
        step = "subscribe to" if action == "grant" else "unsubscribe from"
        try:
            if previous:
                step = "take the previous address off"
                if lists.forget(name, previous):
                    moved.append(address)
                step = "subscribe to"
            if action == "grant":
                display_name = volunteer.get("display_name") or ""
                changed = lists.subscribe(name, mail, display_name)
            else:
                changed = lists.unsubscribe(name, mail)
            (done if changed else already).append(address)
            coordinator = action == "grant" and name in coordinating
            step = "make the coordinator owner and moderator of" if coordinator else (
                "take the owner and moderator roles on")
            roles.record(address, coordinator, lists.set_coordinator(name, mail, coordinator))
        except MailmanRefused as error:
            failures.append(f"could not {step} {address} ({error})")
    forgotten = False
    if action == "revoke" and volunteer.get("forget") is True and not failures:
        try:
            forgotten = lists.delete_records(mail)
        except MailmanRefused as error:
            failures.append(f"could not delete Mailman's records of the address ({error})")
    changed = bool(done or moved or roles.changed or forgotten)
    if changed:
        lists.changed = True
    message = _message(action, done, already, roles, failures, lists.dry_run)
    if forgotten:
        message = "; ".join(filter(None, [message, f"records {'would be ' if lists.dry_run else ''}deleted"]))
    if moved:
        would = "would be " if lists.dry_run else ""
        message = "; ".join(filter(None, [f"previous address {would}taken off {', '.join(moved)}",
                                          message]))
    return {"status": "failed" if failures else "changed" if changed else "ok", "message": message}


class Roles:
    """What became of a volunteer's owner and moderator roles, list by list."""

    def __init__(self):
        self.made: list[str] = []
        self.kept: list[str] = []
        self.taken: list[str] = []

    def record(self, address: str, coordinator: bool, changed: bool) -> None:
        if coordinator:
            (self.made if changed else self.kept).append(address)
        elif changed:
            self.taken.append(address)

    @property
    def changed(self) -> bool:
        return bool(self.made or self.taken)


def _message(action: str, done: list[str], already: list[str], roles: Roles, failures: list[str],
             dry_run: bool) -> str:
    would = "would be " if dry_run else ""
    parts = []
    if done:
        verb = "subscribed to" if action == "grant" else "unsubscribed from"
        parts.append(f"{would}{verb} {', '.join(done)}")
    if already:
        parts.append(("already on " if action == "grant" else "not on ") + ", ".join(already))
    if roles.made:
        parts.append(f"{would}made owner and moderator of {', '.join(roles.made)}")
    if roles.kept:
        parts.append(f"already owner and moderator of {', '.join(roles.kept)}")
    if roles.taken:
        parts.append(f"{would}no longer owner or moderator of {', '.join(roles.taken)}")
    parts += failures
    return "; ".join(parts)


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "required": True},
        "user": {"type": "str", "required": True},
        "password": {"type": "str", "required": True, "no_log": True},
        "domain": {"type": "str", "required": True},
        "batch_file": {"type": "path", "required": True},
        "welcome_message": {"type": "bool", "default": False},
        "timeout": {"type": "float", "default": 10.0},
    }, supports_check_mode=True)
    params = module.params
    try:
        volunteers = read_batch(params["batch_file"])
        complete_groups = read_complete_groups(params["batch_file"])
    except BatchFileError as error:
        module.fail_json(msg=str(error), service=SERVICE)
    missing = [name for name in ("url", "user", "password", "domain") if not params[name]]
    if missing:
        module.fail_json(msg="Mailman: set " + ", ".join(f"mailing_lists_{name}" for name in missing)
                             + " in the inventory", service=SERVICE)
    lists = None
    outcomes: dict[str, dict] = {}
    try:
        api = MailmanAPI(params["url"], params["user"], params["password"], params["timeout"])
        lists = ListsProvisioner(api, params["domain"].lower(), welcome_message=params["welcome_message"],
                                 dry_run=module.check_mode)
        try:
            extra = provision(lists, volunteers, outcomes, complete_groups)
        finally:
            api.close()
    except MailmanUnavailable as error:
        # Those done before the failure keep their outcome; the worker's retry completes the rest.
        not_done = {"status": "failed", "message": f"not done: {error}"}
        module.fail_json(msg=str(error), service=SERVICE, changed=bool(lists and lists.changed),
                         volunteers={volunteer["uid"]: outcomes.get(volunteer["uid"], not_done)
                                     for volunteer in volunteers})
    module.exit_json(changed=lists.changed, service=SERVICE, volunteers=outcomes, extra=extra)


if __name__ == "__main__":
    main()
