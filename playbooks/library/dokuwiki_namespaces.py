#!/usr/bin/python
"""Ansible module: the working groups' DokuWiki namespaces, and each volunteer's access, in one session."""

from __future__ import annotations

DOCUMENTATION = r"""
module: dokuwiki_namespaces
short_description: Give working groups their DokuWiki namespaces; report each volunteer's wiki access
description:
  - >-
    DokuWiki reads people and groups from LDAP (its authldap plugin), so a volunteer's access
    follows their LDAP groups and their account's lock at once. The one thing written per
    volunteer is a coordinator's: a volunteer whose group entry says C(coordinator=true)
    (an owner of the group's LDAP group) gets an ACL line of their own on
    C(<namespace>:*) with I(coordinator_permission) (16, delete: they may edit, create,
    upload and delete there). The module owns such per-person lines on working groups'
    namespaces, for the batch's volunteers: a grant without C(coordinator=true) and every
    revoke remove the person's line there.
  - >-
    A person's line is written through DokuWiki's ACL plugin, which encodes the name as
    DokuWiki does (auth_nameencode), so no name can end the line or start another; a uid
    DokuWiki would read as something other than one person (a group's C(@) name, its
    C(%USER%) or C(%GROUP%) placeholders, control characters) gets no line and fails that
    volunteer.
  - >-
    Makes sure the namespace holding the batch's working-group namespaces (C(wg:*) for
    C(wg:<slug>)) is read-only to logged-in people, so a group whose namespace no batch has
    set up yet is not open to everyone for editing. Every name (namespace, LDAP group) is
    the batch's, as the worker's catalogue gives it; the module builds none from a slug.
  - For each working group in the batch, makes sure the ACL lines exist (the group's LDAP group
    may edit C(<namespace>:*), other logged-in people may read it) and the namespace's start
    page exists, written only when missing. Idempotent.
  - >-
    A complete batch (C(complete.groups), a reconciliation) sets up every listed group's
    namespace as above, handles its volunteers as usual, then makes each listed namespace's
    C(<namespace>:*) lines exactly the module's - the group's and the readers' lines, put
    back if edited by hand, and a line of their own for each coordinator the batch grants
    the group. Every other line there (a person's line for someone who is not such a
    coordinator, a line for another C(@) group, C(@ALL) or a wildcard) is removed; a line
    of a volunteer the batch names on that group is theirs to converge, reported with them.
  - >-
    Left alone deliberately: lines on other scopes, which hold the deployment's own (the
    dokuwiki_server role's C(*) lines for C(@ALL) and C(@user), the C(wg:*) area line), and
    lines on a page or sub-namespace inside a group's namespace, a superuser's finer rule
    the catalogue knows nothing of; the wiki's superusers need no ACL line.
  - For each volunteer to grant, asks the wiki (C(wiki.aclCheck)) whether it lets them edit
    each of their working groups' namespaces (for a coordinator, with
    I(coordinator_permission)).
  - Talks XML-RPC over one session, as a wiki superuser, with HTTP basic auth on the first call,
    DokuWiki's session cookies after, so the wiki checks the password against LDAP once.
  - Reads the batch from I(batch_file) itself, so that what volunteers typed is never
    templated by Ansible.
  - Reports per volunteer under C(volunteers), with C(service=wiki). The task fails only
    when the wiki cannot be used at all (unreachable, login refused, not a superuser); a
    call that fails for one volunteer while the wiki still answers fails that volunteer.
extends_documentation_fragment: [volunteer_batch]
options:
  url:
    description: the wiki's base URL (XML-RPC is at lib/exe/xmlrpc.php under it)
    type: str
    required: true
  admin_user:
    description: a wiki superuser (an LDAP account in the superuser group)
    type: str
    required: true
  admin_password: {description: its LDAP password, type: str, required: true, no_log: true}
  member_permission:
    description: the DokuWiki permission of a working group's members on its namespace
    type: int
    default: 8
  coordinator_permission:
    description: the DokuWiki permission of a working group's coordinators on its namespace
    type: int
    default: 16
  reader_group: {description: the DokuWiki group of every logged-in person, type: str, default: user}
  reader_permission:
    description: the permission of other logged-in people on a working group's namespace
    type: int
    default: 1
  start_page:
    description: "the start page's text; {name}, {slug}, {group} and {namespace} are filled in"
    type: str
  timeout: {description: seconds to wait for each answer, type: float, default: 10}
  validate_certs: {description: check the wiki's TLS certificate, type: bool, default: true}
"""

EXAMPLES = r"""
- name: Give the working groups their wiki namespaces and report each volunteer's access
  dokuwiki_namespaces:
    url: https://wiki.occupy.example
    admin_user: wiki-provisioner
    admin_password: "{{ vault_wiki_admin_password }}"
    batch_file: "{{ provisioner_batch_file }}"
"""

RETURN = r"""
service: {description: always C(wiki), returned: always, type: str}
volunteers:
  description: >-
    by uid, C({status, message}): C(ok) when the wiki gives the access the action wants,
    C(changed) when a coordinator's ACL line was written or removed for it now, C(failed)
    with the reason
  returned: always
  type: dict
extra:
  description: >-
    filled by a complete batch only (empty otherwise): by the ACL line's user or C(@group)
    name (as DokuWiki's ACL plugin lists it, decoded), C({status, message}) for each line
    found on a listed namespace that the module does not want as it was; C(changed) with
    what was done, for example C(line on wg:kitchen:* (permission 8) removed: the directory
    does not give them this group) or C(put back to permission 8 on wg:kitchen:* (it was
    16): the provisioner's line for this group) (in check mode prefixed C(would be done: ),
    nothing written), C(failed) with the reason
  returned: always
  type: dict
changes:
  description: the ACL lines and start pages written, and the coordinators' lines removed
  returned: success
  type: list
  elements: str
"""

import base64
import http.client
import ssl
import unicodedata
import xmlrpc.client
from xml.parsers.expat import ExpatError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.volunteer_batch import (
    BatchFileError,
    outcome_of,
    read_batch,
    read_complete_groups,
)

XMLRPC_PATH = "/lib/exe/xmlrpc.php"
AUTH_EDIT = 2  # DokuWiki's permission to edit a page
# DokuWiki's wildcards in an ACL line's name, which it never encodes (auth_nameencode):
# %USER% stands for whoever is logged in, %GROUP% for each of their groups.
ACL_WILDCARDS = ("%USER%", "%GROUP%")
DEFAULT_START_PAGE = (
    "====== {name} ======\n\n"
    "The {name} working group's space. Members of the LDAP group {group} can edit every page "
    "under {namespace}; everybody else who is logged in can read them.\n"
)


class WikiUnavailable(Exception):
    """The wiki as a whole cannot be used: the message names it and says why."""


class WikiRefused(Exception):
    """One call was refused or failed; the wiki itself answers."""


class NotOnePerson(Exception):
    """A uid that an ACL line would not name as one person."""


class _SessionTransport:
    """Basic auth on every request, plus the cookies DokuWiki sets: once it has a session
    cookie, DokuWiki trusts its session cache and stops checking the password in LDAP."""

    def __init__(self, authorization: str, timeout: float, **kwargs):
        super().__init__(headers=[("Authorization", authorization)], **kwargs)
        self._timeout = timeout
        self._cookies: dict[str, str] = {}

    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        return connection

    def send_headers(self, connection, headers):
        if self._cookies:
            cookie = "; ".join(f"{name}={value}" for name, value in self._cookies.items())
            headers = [*headers, ("Cookie", cookie)]
        super().send_headers(connection, headers)

    def parse_response(self, response):
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0].strip()
            if value in ("", "deleted"):
                self._cookies.pop(name.strip(), None)
            else:
                self._cookies[name.strip()] = value
        return super().parse_response(response)


class _HttpSession(_SessionTransport, xmlrpc.client.Transport):
    pass


class _HttpsSession(_SessionTransport, xmlrpc.client.SafeTransport):
    pass


class Wiki:
    """One XML-RPC session with DokuWiki, as one user."""

    def __init__(self, url: str, user: str, password: str, *, timeout: float, validate_certs: bool):
        self.url = url.rstrip("/")
        self.user = user
        authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self.url.startswith("https://"):
            context = ssl.create_default_context()
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            transport = _HttpsSession(authorization, timeout, context=context)
        elif self.url.startswith("http://"):
            transport = _HttpSession(authorization, timeout)
        else:
            raise WikiUnavailable(f"the wiki URL {url!r} does not start with http:// or https://")
        self._proxy = xmlrpc.client.ServerProxy(self.url + XMLRPC_PATH, transport=transport,
                                                allow_none=False)

    def call(self, method: str, *args, expect: type):
        """The call's answer, of type `expect`. DokuWiki hides an error as an empty struct
        (with HTTP 200 or 403), so an answer of another type is a refusal."""
        try:
            answer = getattr(self._proxy, method)(*args)
        except xmlrpc.client.ProtocolError as error:
            if error.errcode == 401:
                raise WikiUnavailable(
                    f"DokuWiki at {self.url} refused the login of {self.user}: a wrong password, "
                    "or an account that is locked or not in LDAP") from None
            if error.errcode == 403:
                raise WikiRefused(f"{method} is forbidden to {self.user} (HTTP 403)") from None
            if error.errcode == 404:
                raise WikiUnavailable(f"no DokuWiki XML-RPC at {self.url}{XMLRPC_PATH} (HTTP 404)") from None
            raise WikiUnavailable(f"DokuWiki at {self.url} answered HTTP {error.errcode} "
                                  f"{error.errmsg} to {method}") from None
        except xmlrpc.client.Fault as fault:
            raise WikiRefused(f"{method} failed: {fault.faultString} ({fault.faultCode})") from None
        except (OSError, http.client.HTTPException) as error:
            raise WikiUnavailable(f"DokuWiki XML-RPC at {self.url} does not answer: "
                                  f"{error.__class__.__name__}: {error}") from None
        except (ExpatError, xmlrpc.client.ResponseError) as error:
            raise WikiUnavailable(f"{self.url}{XMLRPC_PATH} does not answer like DokuWiki's XML-RPC: "
                                  f"{error}") from None
        if expect is int and isinstance(answer, bool):
            answer = None   # a bool is an int in Python, never a permission
        if not isinstance(answer, expect):
            raise WikiRefused(f"DokuWiki refused {method} (it answered {answer!r})")
        return answer

    def answers(self) -> bool:
        """Whether the wiki serves XML-RPC at all: tells one call's failure from the wiki's."""
        self.call("dokuwiki.getVersion", expect=str)      # raises when it does not
        return True

    def close(self) -> None:
        self._proxy("close")()


class Namespaces:
    """Makes the working groups' namespaces exist; remembers what it changed and what failed."""

    def __init__(self, wiki: Wiki, params: dict, check_mode: bool):
        self.wiki = wiki
        self.params = params
        self.check_mode = check_mode
        self.changed: list[str] = []
        self.errors: dict[str, str] = {}
        self.acls: dict = {}     # scope -> {name: level}, as plugin.acl.listAcls last gave them
        self.restored: dict[str, dict[str, tuple[str, int]]] = {}   # scope -> {name: (found, put back)}

    def wanted_lines(self, group: dict) -> dict[str, int]:
        return {f"@{group['group']}": self.params["member_permission"],
                f"@{self.params['reader_group']}": self.params["reader_permission"]}

    def ensure(self, groups: list[dict]) -> None:
        try:
            acls = self.wiki.call("plugin.acl.listAcls", expect=(dict, list))
        except WikiRefused as error:
            raise WikiUnavailable(
                f"{self.wiki.user} may not manage ACLs on DokuWiki at {self.wiki.url}: it must be a "
                f"superuser and allowed XML-RPC by $conf['remoteuser'] ({error})") from None
        acls = self.acls = acls or {}   # PHP sends an empty ACL as an empty array
        # The whole working-group area is read-only to everyone logged in, so a group
        # whose namespace no batch has set up yet is not open to all for editing.
        written_acl = False
        for area in areas(groups):
            written_acl |= self._ensure_lines(f"{area}:*", self.area_lines(), acls)
        for group in groups:
            try:
                written_acl |= self._ensure_acl(group, acls)
                self._ensure_start_page(group)
            except WikiRefused as error:
                self.errors[group["slug"]] = str(error)
        if written_acl and not self.check_mode:
            self._read_back_acls(groups)

    def area_lines(self) -> dict[str, int]:
        return {f"@{self.params['reader_group']}": self.params["reader_permission"]}

    def _ensure_acl(self, group: dict, acls: dict) -> bool:
        return self._ensure_lines(f"{group['wiki_namespace']}:*", self.wanted_lines(group), acls)

    def _ensure_lines(self, scope: str, lines: dict[str, int], acls: dict) -> bool:
        current = acls.get(scope) or {}
        written = False
        for who, level in lines.items():
            if str(current.get(who)) == str(level):
                continue
            if not self.check_mode:
                self.wiki.call("plugin.acl.addAcl", scope, who, level, expect=bool)
            if who in current:      # a line edited by hand, put back
                self.restored.setdefault(scope, {})[who] = (str(current[who]), level)
            self.changed.append(f"ACL {scope} {who} {level}")
            written = True
        return written

    def _ensure_start_page(self, group: dict) -> None:
        page = f"{group['wiki_namespace']}:start"
        if self._page_exists(page):
            return
        if not self.check_mode:
            text = (self.params["start_page"] or DEFAULT_START_PAGE).format(
                name=group.get("name") or group["slug"], slug=group["slug"], group=group["group"],
                namespace=group["wiki_namespace"])
            self.wiki.call("wiki.putPage", page, text,
                           {"sum": "working group namespace created by the provisioner"}, expect=bool)
            if not self._page_exists(page):
                raise WikiRefused(f"DokuWiki accepted the page {page} but does not show it")
        self.changed.append(f"page {page}")

    def _page_exists(self, page: str) -> bool:
        try:
            info = self.wiki.call("wiki.getPageInfo", page, expect=dict)
        except WikiRefused:
            return False   # "the requested page does not exist" comes back as an empty struct
        return bool(info.get("name"))

    def read_acls(self) -> dict:
        self.acls = self.wiki.call("plugin.acl.listAcls", expect=(dict, list)) or {}
        return self.acls

    def _read_back_acls(self, groups: list[dict]) -> None:
        acls = self.read_acls()
        for area in areas(groups):
            current = acls.get(f"{area}:*") or {}
            if any(str(current.get(who)) != str(level) for who, level in self.area_lines().items()):
                raise WikiUnavailable(f"DokuWiki at {self.wiki.url} accepted the ACL line for {area}:* "
                                      "but does not show it")
        for group in groups:
            scope = f"{group['wiki_namespace']}:*"
            current = acls.get(scope) or {}
            missing = [f"{who} {level}" for who, level in self.wanted_lines(group).items()
                       if str(current.get(who)) != str(level)]
            if missing and group["slug"] not in self.errors:
                self.errors[group["slug"]] = (f"DokuWiki accepted the ACL lines for {scope} but does not "
                                              f"show {', '.join(missing)}")


def acl_person(uid: str) -> str:
    """The uid as DokuWiki's ACL plugin takes a person's name, which it encodes itself
    (auth_nameencode: every ASCII character but letters and digits becomes %xx), so the
    name stays one field of one line. Refused: what DokuWiki would read as another
    subject (a group's @name, its wildcards, which it never encodes) and control
    characters, which it writes as escapes its own reader does not decode."""
    if not uid:
        raise NotOnePerson("an empty uid names nobody in the wiki's ACL")
    if uid.startswith("@"):
        raise NotOnePerson(f"{uid!r} would name a wiki group in the ACL, not a person")
    if uid in ACL_WILDCARDS:
        raise NotOnePerson(f"{uid!r} is a placeholder in the wiki's ACL, not a person")
    if any(unicodedata.category(character) == "Cc" for character in uid):
        raise NotOnePerson(f"{uid!r} holds control characters, which the wiki's ACL cannot name")
    return uid


class CoordinatorLines:
    """A working group's coordinators administer its namespace: an ACL line of their own on
    <namespace>:*. Written or removed for one volunteer at a time, so that one volunteer's
    refusal fails only them."""

    def __init__(self, namespaces: Namespaces, permission: int):
        self.namespaces = namespaces
        self.wiki = namespaces.wiki
        self.permission = permission

    def converge(self, volunteer: dict) -> tuple[list[str], list[str]]:
        """Give a coordinator being granted their lines, take them from anyone else:
        (what changed, problems)."""
        granted = volunteer["action"] == "grant"
        wanted = {f"{group['wiki_namespace']}:*": self.permission if granted and _coordinates(group) else None
                  for group in volunteer.get("groups") or []
                  if group["slug"] not in self.namespaces.errors}
        if not wanted:
            return [], []
        try:
            name = acl_person(volunteer["uid"])
        except NotOnePerson as refusal:
            if any(level is not None for level in wanted.values()):
                return [], [f"no coordinator's ACL line: {refusal}"]
            return [], []    # no line can be theirs, so none to remove
        done = []
        for scope, level in wanted.items():
            current = (self.namespaces.acls.get(scope) or {}).get(name)
            if str(current) == str(level):     # PHP may send a level as a string; None: no line
                continue
            if level is None:
                if not self.namespaces.check_mode:
                    self.wiki.call("plugin.acl.delAcl", scope, name, expect=bool)
                done.append(f"coordinator's line on {scope} removed")
                self.namespaces.changed.append(f"ACL {scope} {name} removed")
            else:
                if not self.namespaces.check_mode:
                    self.wiki.call("plugin.acl.addAcl", scope, name, level, expect=bool)
                done.append(f"coordinator's line on {scope} written")
                self.namespaces.changed.append(f"ACL {scope} {name} {level}")
        if done and not self.namespaces.check_mode:
            acls = self.namespaces.read_acls()
            shown = {scope: (acls.get(scope) or {}).get(name) for scope in wanted}
            wrong = [scope for scope, level in wanted.items() if str(shown[scope]) != str(level)]
            if wrong:
                return done, [f"DokuWiki accepted the coordinator's lines but does not show them as "
                              f"wanted on {', '.join(wrong)}"]
        return done, []


def _coordinates(group: dict) -> bool:
    """Whether the batch says the volunteer coordinates this group (owns its LDAP group)."""
    return group.get("coordinator") is True


def areas(groups: list[dict]) -> list[str]:
    """The namespaces that hold the groups' namespaces: wg for wg:<slug>."""
    return sorted({group["wiki_namespace"].rpartition(":")[0] for group in groups} - {""})


def grant_outcome(wiki: Wiki, volunteer: dict, errors: dict[str, str], lines: CoordinatorLines) -> dict:
    uid = volunteer["uid"]
    groups = volunteer.get("groups") or []
    if not groups:
        return {"status": "ok", "message": "no working group to give wiki access for"}
    try:
        done, problems = lines.converge(volunteer)
    except WikiRefused as error:
        done, problems = [], [f"the coordinator's ACL lines were not written: {error}"]
    editable, administered = [], []
    for group in groups:
        namespace = group["wiki_namespace"]
        if group["slug"] in errors:
            problems.append(f"the namespace {namespace} could not be set up: {errors[group['slug']]}")
            continue
        try:
            level = wiki.call("wiki.aclCheck", f"{namespace}:start", uid, expect=int)
        except WikiRefused as error:
            problems.append(f"cannot check {namespace}: {error}")
            continue
        if _coordinates(group):
            if level >= lines.permission:
                administered.append(namespace)
            else:
                problems.append(f"cannot administer {namespace} as its coordinator: the wiki gives "
                                f"permission {level}, not {lines.permission}")
        elif level >= AUTH_EDIT:
            editable.append(namespace)
        else:
            problems.append(f"cannot edit {namespace}: the wiki gives permission {level}, so it does "
                            f"not see {uid} in the LDAP group {group['group']}")
    if problems:
        return {"status": "failed", "message": "; ".join(problems + done)}
    access = ([f"can edit {', '.join(editable)}"] if editable else []) + (
        [f"administers {', '.join(administered)} as coordinator"] if administered else [])
    return {"status": "changed" if done else "ok", "message": "; ".join(done + access)}


def revoke_outcome(volunteer: dict, errors: dict[str, str], lines: CoordinatorLines) -> dict:
    groups = volunteer.get("groups") or []
    broken = [f"the namespace {group['wiki_namespace']} could not be set up: {errors[group['slug']]}"
              for group in groups if group["slug"] in errors]
    try:
        done, problems = lines.converge(volunteer)
    except WikiRefused as error:
        done, problems = [], [f"the coordinator's ACL lines were not removed: {error}"]
    if broken or problems:
        return {"status": "failed", "message": "; ".join(broken + problems + done)}
    left = ", ".join(group["group"] for group in groups) or "a working group"
    namespaces = ", ".join(group["wiki_namespace"] for group in groups) or "its namespace"
    return {"status": "changed" if done else "ok",
            "message": "; ".join([*done, f"access follows LDAP: a locked account cannot log in, and "
                                         f"leaving {left} ends editing {namespaces}"])}


def reconcile(namespaces: Namespaces, complete_groups: list[dict], volunteers: list[dict]) -> dict:
    """A complete batch's last step: on each listed group's C(<namespace>:*), the lines the module
    wants are the group's and the readers' (written or put back by `Namespaces.ensure`) and those
    of the coordinators it grants the group (converged with each volunteer); every other line is
    removed. Lines of the batch's other volunteers on the group are theirs (their outcome says
    what became of them). Only that scope is the module's: the deployment's own lines (C(*) for
    C(@ALL) and C(@user), the area's C(wg:*)) are on other scopes, superusers need no line, and a
    line on a page or sub-namespace inside is a superuser's finer rule, left alone.
    Returns {name as the ACL gives it: {status, message}}."""
    if not namespaces.check_mode:
        namespaces.read_acls()
    would = "would be done: " if namespaces.check_mode else ""
    found: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}      # scope -> names whose line was removed
    failures: dict[str, list[str]] = {}
    for group in complete_groups:
        if group["slug"] in namespaces.errors:
            continue                          # reported with the volunteers of the group
        scope = f"{group['wiki_namespace']}:*"
        wanted = namespaces.wanted_lines(group)
        answered = {volunteer["uid"] for volunteer in volunteers
                    if any(own.get("slug") == group["slug"] for own in volunteer.get("groups") or [])}
        for who, (was, level) in namespaces.restored.get(scope, {}).items():
            found.setdefault(who, []).append(f"{would}put back to permission {level} on {scope} "
                                             f"(it was {was}): the provisioner's line for this group")
        for who, level in (namespaces.acls.get(scope) or {}).items():
            if who in wanted or who in answered:
                continue
            try:
                if not namespaces.check_mode:
                    namespaces.wiki.call("plugin.acl.delAcl", scope, who, expect=bool)
            except WikiRefused as error:
                failures.setdefault(who, []).append(f"its line on {scope} could not be removed: {error}")
                continue
            reason = ("not a line the provisioner gives" if who.startswith("@")
                      else "the directory does not give them this group")
            found.setdefault(who, []).append(f"{would}line on {scope} (permission {level}) removed: {reason}")
            removed.setdefault(scope, []).append(who)
            namespaces.changed.append(f"ACL {scope} {who} removed")
    if removed and not namespaces.check_mode:
        acls = namespaces.read_acls()
        for scope, names in removed.items():
            for who in names:
                if who in (acls.get(scope) or {}):
                    failures.setdefault(who, []).append(f"DokuWiki accepted removing its line on {scope} "
                                                        "but still shows it")
    return {who: {"status": "failed" if who in failures else "changed",
                  "message": "; ".join(found.get(who, []) + failures.get(who, []))}
            for who in {**found, **failures}}


def provision(params: dict, volunteers: list[dict], check_mode: bool,
              complete_groups: list[dict] | None = None) -> tuple[list[str], dict, dict]:
    """Set up the batch's namespaces, report each volunteer, and for a complete batch put the
    listed groups' namespaces' lines back to what the module writes: (changes made, outcomes,
    extras)."""
    groups = list({group["slug"]: group for group in [
        *(group for volunteer in volunteers for group in volunteer.get("groups") or []),
        *(complete_groups or [])]}.values())
    wiki = Wiki(params["url"], params["admin_user"], params["admin_password"],
                timeout=params["timeout"], validate_certs=params["validate_certs"])
    try:
        namespaces = Namespaces(wiki, params, check_mode)
        namespaces.ensure(groups)
        lines = CoordinatorLines(namespaces, params["coordinator_permission"])

        def outcome(volunteer: dict) -> dict:
            if volunteer["action"] == "grant":
                return grant_outcome(wiki, volunteer, namespaces.errors, lines)
            return revoke_outcome(volunteer, namespaces.errors, lines)

        results = {volunteer["uid"]: outcome_of(volunteer, outcome, service_errors=(WikiUnavailable,),
                                                service_answers=wiki.answers)
                   for volunteer in volunteers}
        extras = {} if complete_groups is None else reconcile(namespaces, complete_groups, volunteers)
    finally:
        wiki.close()
    return namespaces.changed, results, extras


def main() -> None:
    module = AnsibleModule(argument_spec={
        "url": {"type": "str", "required": True},
        "admin_user": {"type": "str", "required": True},
        "admin_password": {"type": "str", "required": True, "no_log": True},
        "batch_file": {"type": "path", "required": True},
        "member_permission": {"type": "int", "default": 8},
        "coordinator_permission": {"type": "int", "default": 16},
        "reader_group": {"type": "str", "default": "user"},
        "reader_permission": {"type": "int", "default": 1},
        "start_page": {"type": "str"},
        "timeout": {"type": "float", "default": 10.0},
        "validate_certs": {"type": "bool", "default": True},
    }, supports_check_mode=True)
    params = module.params
    try:
        volunteers = read_batch(params["batch_file"])
        complete_groups = read_complete_groups(params["batch_file"])
    except BatchFileError as error:
        module.fail_json(msg=str(error), service="wiki")
    try:
        changes, results, extras = provision(params, volunteers, module.check_mode, complete_groups)
    except WikiUnavailable as error:
        failed = {"status": "failed", "message": f"the wiki could not be used: {error}"}
        module.fail_json(msg=str(error), service="wiki",
                         volunteers={volunteer["uid"]: failed for volunteer in volunteers})
    module.exit_json(changed=bool(changes), service="wiki", volunteers=results, changes=changes,
                     extra=extras)


if __name__ == "__main__":
    main()
