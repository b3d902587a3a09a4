"""Every setting, in layers: defaults, then an instance file, then PROVISIONER_* variables,
then the mapping given to create_app (tests, the demo).

The instance file is a Python file named by PROVISIONER_CONFIG, holding the same
names without the prefix (`LDAP_URL = "ldaps://..."`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "PROVISIONER_"
CHECKOUT = Path(__file__).resolve().parent.parent  # playbooks/ and inventory/ live beside the package


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type = str
    help: str = ""
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


SETTINGS = (
    Setting("SECRET_KEY", None, help="signs sessions and links; a long random string", secret=True),
    Setting("LDAP_URL", "ldap://127.0.0.1:3389",
            help="the LDAP server; or several replicas separated by spaces or commas, tried in "
                 "order: when the one in use stops answering, the portal moves to the next"),
    Setting("LDAP_BASE_DN", "dc=occupy,dc=example", help="the occupation's base DN"),
    Setting("LDAP_BIND_DN", "cn=portal,ou=services,dc=occupy,dc=example",
            help="the portal's bind account (see provisioner/schema/access.conf for its rights)"),
    Setting("LDAP_BIND_PASSWORD", None, help="its password", secret=True),
    Setting("LDAP_TIMEOUT", 5.0, float, help="seconds to wait for the LDAP server"),
    Setting("LDAP_CA_FILE", "",
            help="the CA certificate (PEM) that signed the LDAP servers' certificates; ldaps:// "
                 "certificates are always checked, against this file or else the system's CAs"),
    Setting("DATABASE_URL", "sqlite:///var/provisioner.sqlite", help="the SQL store"),
    Setting("SMTP_HOST", "127.0.0.1", help="the mail server the portal sends through"),
    Setting("SMTP_PORT", 25, int),
    Setting("SMTP_STARTTLS", False, bool, help="upgrade the SMTP connection with STARTTLS"),
    Setting("SMTP_USERNAME", "", help="SMTP login, if the server wants one"),
    Setting("SMTP_PASSWORD", "", help="its password", secret=True),
    Setting("MAIL_FROM", "portal@occupy.example", help="the sender of the portal's mails"),
    Setting("PUBLIC_URL", "http://127.0.0.1:5000",
            help="the portal's address as volunteers reach it; links in mails start with it"),
    Setting("VERIFY_LINK_HOURS", 48, int, help="how long a verification link works"),
    # Where people reach the services: the account page links each working group's list
    # archive, wiki namespace and Redmine project. An empty one is not linked.
    Setting("LIST_DOMAIN", "", help="the mailing lists' domain (wg-<slug>@LIST_DOMAIN)"),
    Setting("ARCHIVES_URL", "", help="the lists' web pages (HyperKitty and Postorius), e.g. https://lists.example.org"),
    Setting("WIKI_URL", "", help="the wiki's address, e.g. https://wiki.example.org"),
    Setting("REDMINE_URL", "", help="Redmine's address, e.g. https://redmine.example.org"),
    Setting("SECURE_COOKIES", True, bool, help="send the session cookie over HTTPS only"),
    Setting("SESSION_IDLE_MINUTES", 30, int, help="a session unused this long ends"),
    Setting("SESSION_MAX_HOURS", 12, int, help="a session ends this long after login, used or not"),
    Setting("OCCUPATION_NAME", "Occupy Example", help="the occupation's name, shown to people"),
    Setting("CATALOGUE", "", help="a working-group catalogue YAML file; empty for the bundled one"),
    Setting("PLAYBOOKS_DIR", str(CHECKOUT / "playbooks"), help="where volunteer_access.yml is"),
    Setting("INVENTORY", str(CHECKOUT / "inventory" / "local"), help="the Ansible inventory"),
    Setting("RUNNER_DIR", "var/runner", help="ansible-runner's folder; run artifacts go under it"),
    Setting("RUNNER_KEEP", 20, int, help="how many runs' artifacts to keep"),
    Setting("JOB_MAX_ATTEMPTS", 5, int, help="runs of a job before it stays failed"),
    Setting("JOB_RETRY_SECONDS", 30, int, help="delay before the first retry; doubles each time"),
    Setting("JOB_LEASE_SECONDS", 300, int,
            help="how long a silent worker keeps its jobs before another takes them over"),
    Setting("WORKER_POLL_SECONDS", 2.0, float, help="how often an idle worker looks for jobs"),
    Setting("RESET_LINK_MINUTES", 60, int, help="how long a password reset link works"),
    Setting("REJECTED_RETENTION_DAYS", 90, int,
            help="days a rejected request's username, addresses and reason stay in the audit log; "
                 "then purge-expired puts a pseudonym in their place"),
    Setting("INVITATION_DAYS", 14, int,
            help="how long an invitation's link works (provisioner invite, the Invitations page)"),
    Setting("UNUSED_INVITATION_RETENTION_DAYS", 90, int,
            help="days an invitation nobody used is kept once withdrawn or expired; then "
                 "purge-expired deletes it, and the address of someone who never joined with it"),
    # Accounts' end dates (workflow/terms.py): the approver's default from the time the
    # volunteer gives, the reminder before the end, and how long its renewal link works.
    Setting("END_DATE_DAYS_HOUR", 7, int,
            help="days from approval to the default end date of a volunteer giving an hour"),
    Setting("END_DATE_DAYS_DAY", 14, int, help="the same, for a volunteer giving a day"),
    Setting("END_DATE_DAYS_TASK", 90, int,
            help="the same, for a specific task (ongoing volunteers get no end date by default)"),
    Setting("END_DATE_REMINDER_DAYS", 3, int,
            help="days before an account's end date that `provisioner expire` mails a reminder"),
    Setting("RENEWAL_LINK_DAYS", 30, int,
            help="how long the renewal link in the reminder and the ending mail works"),
    # The abuse limits (workflow/limits.py, docs/security.md). Per account they are hard;
    # per client address they slow an address down and never lock anyone out, since a
    # camp's Wi-Fi puts hundreds of people behind one address.
    Setting("LOGIN_MAX_FAILURES", 10, int,
            help="wrong passwords (and, counted apart, wrong codes) for one account in the window; "
                 "then its logins are refused unchecked until the oldest failures leave the window"),
    Setting("LOGIN_WINDOW_MINUTES", 15, int,
            help="the window failures are counted in; a lockout or slow-down ends when they leave it"),
    Setting("LOGIN_ADDRESS_FAILURES_BEFORE_DELAY", 50, int,
            help="wrong passwords (or codes) from one client address in the window, across all "
                 "accounts, before its attempts are slowed down; accounts without failures of "
                 "their own are never slowed"),
    Setting("LOGIN_ADDRESS_FIRST_DELAY_SECONDS", 2, int,
            help="from a slowed address, how long an account with failures must wait after its "
                 "latest one; doubles with every further failure from the address"),
    Setting("LOGIN_ADDRESS_MAX_DELAY_SECONDS", 300, int, help="the longest that delay grows"),
    Setting("MAILS_PER_ADDRESS_PER_HOUR", 3, int,
            help="registration and reset mails to one address in an hour; more are not sent"),
    Setting("REGISTRATIONS_PER_ADDRESS_PER_HOUR", 20, int,
            help="registrations from one client address (an IPv6 /64) in an hour; more are "
                 "refused, saying how long to wait. Room for a welcome desk on a camp's Wi-Fi"),
    Setting("TRUSTED_PROXIES", 0, int,
            help="how many proxies (nginx) stand in front of the portal: the client address "
                 "the limits count is then the one they report in X-Forwarded-For; 0 when "
                 "clients connect directly"),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


_KINDS = {int: "a whole number", float: "a number"}   # in refusals: "must be a whole number"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def convert(setting: Setting, value: Any, origin: str) -> Any:
    if setting.kind is str or isinstance(value, setting.kind):
        return value
    if setting.kind is bool:
        if str(value).lower() in _TRUE | _FALSE:
            return str(value).lower() in _TRUE
        raise ConfigError(f"{origin} must be true or false, not {value!r}")
    try:
        return setting.kind(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{origin} must be {_KINDS.get(setting.kind, setting.kind.__name__)}, "
            f"not {'***' if setting.secret else repr(value)}"
        ) from None


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve every setting; ConfigError names the first required one missing."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}
    if environ.get(f"{ENV_PREFIX}CONFIG"):
        values.update(_read_instance_file(environ[f"{ENV_PREFIX}CONFIG"]))
    for setting in SETTINGS:
        if f"{ENV_PREFIX}{setting.name}" in environ:
            values[setting.name] = environ[f"{ENV_PREFIX}{setting.name}"]
    values.update(overrides or {})
    for setting in SETTINGS:
        origin = f"{ENV_PREFIX}{setting.name}"
        if values[setting.name] in (None, ""):
            if setting.required:
                raise ConfigError(f"{origin} is not set: {setting.help}")
            continue
        values[setting.name] = convert(setting, values[setting.name], origin)
    return values


def _read_instance_file(path: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    try:
        with open(path, encoding="utf-8") as file:
            exec(compile(file.read(), path, "exec"), namespace)  # noqa: S102 - the admin's own file
    except OSError as error:
        raise ConfigError(f"cannot read PROVISIONER_CONFIG {path}: {error.strerror}") from None
    return {name: value for name, value in namespace.items() if name in BY_NAME}
