"""The application's handles on its back ends.

The store (a connection pool) and the mailer live as long as the app (a request's
mail goes to the store's outbox, the worker sends it); a request or CLI command takes
a bound directory connection from the app's pool and gives it back at teardown
(directory/pool.py). At `init_app` the secrets move out of `app.config` into these objects
and the config keeps `***`, so a config dump never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g

from .catalogue import Catalogue
from .config import ConfigError
from .directory import Directory, DirectorySettings
from .directory.pool import DirectoryPool
from .jobs import JobSettings
from .mail import Mailer
from .outbox import MailOutbox
from .runner import RunnerSettings
from .store import Store
from .store.throttle import LimitSettings
from .workflow import Portal
from .workflow.group_links import ServiceAddresses
from .workflow.terms import TermSettings

MASK = "***"


def init_app(app: Flask) -> None:
    config = app.config
    app.extensions["directory_settings"] = DirectorySettings(
        url=config["LDAP_URL"],
        base_dn=config["LDAP_BASE_DN"],
        bind_dn=config["LDAP_BIND_DN"],
        bind_password=config["LDAP_BIND_PASSWORD"],
        timeout=config["LDAP_TIMEOUT"],
        ca_file=_readable_file(config["LDAP_CA_FILE"], "PROVISIONER_LDAP_CA_FILE"),
    )
    app.extensions["directory_pool"] = DirectoryPool(app.extensions["directory_settings"])
    app.extensions["mailer"] = Mailer(
        host=config["SMTP_HOST"], port=config["SMTP_PORT"], sender=config["MAIL_FROM"],
        organisation=config["OCCUPATION_NAME"], starttls=config["SMTP_STARTTLS"],
        username=config["SMTP_USERNAME"], password=config["SMTP_PASSWORD"],
    )
    app.extensions["services"] = service_addresses(config)
    _positive(config["INVITATION_DAYS"], "INVITATION_DAYS")
    app.extensions["terms"] = term_settings(config)
    store = Store(config["DATABASE_URL"])
    store.create_schema()
    app.extensions["store"] = store
    for name in ("LDAP_BIND_PASSWORD", "SMTP_PASSWORD"):
        if config[name]:
            config[name] = MASK
    app.teardown_appcontext(_give_back_directory)


def get_directory() -> Directory:
    if "directory" not in g:
        g.directory = directory_pool().take()
    directory: Directory = g.directory
    return directory


def get_store() -> Store:
    store: Store = current_app.extensions["store"]
    return store


def get_catalogue() -> Catalogue:
    catalogue: Catalogue = current_app.extensions["catalogue"]
    return catalogue


def get_portal() -> Portal:
    """Everything the workflow needs, for this request."""
    if "portal" not in g:
        config = current_app.config
        g.portal = Portal(
            directory=get_directory(), store=get_store(),
            mailer=MailOutbox(current_app.extensions["mailer"], get_store()),
            catalogue=get_catalogue(), secret_key=config["SECRET_KEY"],
            public_url=config["PUBLIC_URL"], verify_link_hours=config["VERIFY_LINK_HOURS"],
            jobs=job_settings(config),
            session_idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
            session_lifetime=timedelta(hours=config["SESSION_MAX_HOURS"]),
            limits=limit_settings(config),
            services=current_app.extensions["services"],
            invitation_days=config["INVITATION_DAYS"],
            terms=current_app.extensions["terms"],
        )
    portal: Portal = g.portal
    return portal


def limit_settings(config: Mapping[str, Any]) -> LimitSettings:
    return LimitSettings(
        max_failures=config["LOGIN_MAX_FAILURES"],
        window=timedelta(minutes=config["LOGIN_WINDOW_MINUTES"]),
        address_failures_before_delay=config["LOGIN_ADDRESS_FAILURES_BEFORE_DELAY"],
        address_first_delay=timedelta(seconds=config["LOGIN_ADDRESS_FIRST_DELAY_SECONDS"]),
        address_max_delay=timedelta(seconds=config["LOGIN_ADDRESS_MAX_DELAY_SECONDS"]),
        mails_per_address_per_hour=config["MAILS_PER_ADDRESS_PER_HOUR"],
        registrations_per_address_per_hour=config["REGISTRATIONS_PER_ADDRESS_PER_HOUR"])


def term_settings(config: Mapping[str, Any]) -> TermSettings:
    """The end dates' settings; ConfigError for a negative day count (or a zero link life)."""
    names = ("END_DATE_DAYS_HOUR", "END_DATE_DAYS_DAY", "END_DATE_DAYS_TASK",
             "END_DATE_REMINDER_DAYS", "RENEWAL_LINK_DAYS")
    for name in names:
        if config[name] < (1 if name == "RENEWAL_LINK_DAYS" else 0):
            raise ConfigError(f"PROVISIONER_{name} is {config[name]}: a number of days, "
                              + ("at least 1" if name == "RENEWAL_LINK_DAYS" else "0 or more"))
    return TermSettings(
        days_by_availability={"hour": config["END_DATE_DAYS_HOUR"], "day": config["END_DATE_DAYS_DAY"],
                              "task": config["END_DATE_DAYS_TASK"]},
        reminder_days=config["END_DATE_REMINDER_DAYS"],
        renewal_link_days=config["RENEWAL_LINK_DAYS"])


def service_addresses(config: Mapping[str, Any]) -> ServiceAddresses:
    return ServiceAddresses(list_domain=config["LIST_DOMAIN"],
                            archives_url=_web_address(config["ARCHIVES_URL"], "ARCHIVES_URL"),
                            wiki_url=_web_address(config["WIKI_URL"], "WIKI_URL"),
                            redmine_url=_web_address(config["REDMINE_URL"], "REDMINE_URL"))


def _web_address(url: str, setting: str) -> str:
    """An empty setting stays empty; an address must be http(s), since it becomes a link."""
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(f"{setting} is {url!r}: an address starting with https:// (or http://)")
    return url


def job_settings(config: Mapping[str, Any]) -> JobSettings:
    return JobSettings(max_attempts=config["JOB_MAX_ATTEMPTS"], retry_seconds=config["JOB_RETRY_SECONDS"],
                       lease_seconds=config["JOB_LEASE_SECONDS"], poll_seconds=config["WORKER_POLL_SECONDS"])


def _positive(value: int, setting: str) -> None:
    if value < 1:
        raise ConfigError(f"PROVISIONER_{setting} is {value}: it must be 1 or more")


def _readable_file(path: str, setting: str) -> str:
    """An empty setting stays empty; a path must name a file this process can read."""
    if path and not (Path(path).is_file() and os.access(path, os.R_OK)):
        raise ConfigError(f"{setting} is {path}, which is not a file this process can read")
    return path


def runner_settings(app: Flask) -> RunnerSettings:
    """What the worker's playbook runs need: the directory's address and, apart, its secret."""
    directory: DirectorySettings = app.extensions["directory_settings"]
    config = app.config
    return RunnerSettings(
        playbooks_dir=Path(config["PLAYBOOKS_DIR"]), inventory=Path(config["INVENTORY"]),
        work_dir=Path(config["RUNNER_DIR"]).resolve(), keep_runs=config["RUNNER_KEEP"],
        extravars={"provisioner_ldap_url": directory.url, "provisioner_ldap_bind_dn": directory.bind_dn,
                   "provisioner_ldap_ca_file": directory.ca_file},
        secrets={"ldap_bind_password": directory.bind_password},
    )


def directory_pool() -> DirectoryPool:
    pool: DirectoryPool = current_app.extensions["directory_pool"]
    return pool


def _give_back_directory(exception: BaseException | None) -> None:
    """Back to the pool, unless the request ended in an error nobody handled: an operation
    cut short may have left an answer unread on the connection."""
    g.pop("portal", None)
    directory = g.pop("directory", None)
    if directory is None:
        return
    if exception is None:
        directory_pool().give_back(directory)
    else:
        directory.close()
