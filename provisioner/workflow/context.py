"""What every workflow function works with: the back ends, the settings, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..catalogue import Catalogue
from ..clock import utc_now
from ..directory import Directory
from ..jobs import JobSettings, queue_access
from ..outbox import MailOutbox
from ..store import Store, audit
from ..store.throttle import LimitSettings
from .group_links import ServiceAddresses
from .terms import TermSettings


@dataclass(frozen=True)
class Portal:
    directory: Directory
    store: Store
    mailer: MailOutbox      # queues; the worker sends (outbox.py)
    catalogue: Catalogue
    secret_key: str = field(repr=False)
    public_url: str
    verify_link_hours: int = 48
    session_idle: timedelta = timedelta(minutes=30)
    session_lifetime: timedelta = timedelta(hours=12)
    jobs: JobSettings = field(default_factory=JobSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    services: ServiceAddresses = field(default_factory=ServiceAddresses)
    terms: TermSettings = field(default_factory=TermSettings)
    clock: Callable[[], datetime] = utc_now
    invitation_days: int = 14

    def link(self, path: str) -> str:
        """An absolute link for a mail, from the configured address, never the request's Host."""
        return self.public_url.rstrip("/") + path

    def audit(self, action: str, *, actor: str | None = None, subject: str | None = None,
              detail: str | None = None, remote_addr: str | None = None) -> None:
        with self.store.begin() as connection:
            audit.record(connection, at=self.clock(), action=action, actor=actor,
                         subject=subject, detail=detail, remote_addr=remote_addr)

    def queue_access(self, kind: str, targets: dict[str, list[str]], *, actor: str | None) -> int | None:
        """Queue provisioning (grant or revoke) for uid -> working-group slugs."""
        return queue_access(self.store, kind, targets, actor=actor, now=self.clock(),
                            settings=self.jobs)
