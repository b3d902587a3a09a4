"""Mail leaves the request: a web request composes a mail and queues it in the store; the
worker sends the queue on each poll (issue 18).

So a registration, a reset or a resent link answers in the time its directory work takes,
never the mail server's, and a mail server that is down delays mail instead of refusing
people. A mail the server does not take stays queued and is tried again later, each wait
twice the one before (up to an hour), until `max_attempts`; then it is dropped and logged.
Workers claim mails with a conditional UPDATE, so two never send one mail; a worker that
died after sending and before forgetting a mail sends it again when its claim runs out
(once too often rather than never). Logs name a mail by its id and template, never its
address or text.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default

from sqlalchemy.engine import Connection

from .clock import utc_now
from .mail import Mailer, MailError
from .store import Store, StoreUnavailable
from .store import outbox as queue

log = logging.getLogger("provisioner.outbox")
# What one mail's refusal looks like; any other failure loses the connection, for every mail.
REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


@dataclass(frozen=True)
class OutboxSettings:
    retry_seconds: int = 30
    max_delay_seconds: int = 3600
    max_attempts: int = 20          # about 14 hours of tries
    lease_seconds: int = 120        # a claim left by a worker that died runs out after this
    batch: int = 100                # mails per claim (and per SMTP session)

    def retry_delay(self, attempts: int) -> timedelta:
        """30 s, 60 s, 120 s... after the 1st, 2nd, 3rd failed attempt, at most an hour."""
        return timedelta(seconds=min(self.max_delay_seconds, self.retry_seconds * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class MailOutbox:
    """What the workflow mails through: `send` composes the mail now and queues it."""

    mailer: Mailer
    store: Store
    clock: Callable[[], datetime] = field(default=utc_now)

    def send(self, to: str, template: str, *, language: str | None = None, **context: object) -> None:
        """Queue one mail, in `language`; MailError when the store cannot take it (nothing is
        queued then)."""
        message = self.mailer.compose(to, template, language=language, **context)
        try:
            with self.store.begin() as connection:
                self._enqueue(connection, to, template, message.as_bytes())
        except StoreUnavailable as error:
            raise MailError(f"the mail could not be queued ({error})") from None

    def send_in(self, connection: Connection, to: str, template: str, *, language: str | None = None,
                **context: object) -> None:
        """Queue one mail in the caller's transaction: it goes only if that commits. (On
        SQLite a transaction of its own would wait for the write lock the caller holds.)"""
        message = self.mailer.compose(to, template, language=language, **context)
        self._enqueue(connection, to, template, message.as_bytes())

    def _enqueue(self, connection: Connection, to: str, template: str, message: bytes) -> None:
        queue.enqueue(connection, template=template, sender=self.mailer.sender, recipient=to,
                      message=message, now=self.clock())


def deliver_due(store: Store, mailer: Mailer, worker: str, *, now: datetime,
                settings: OutboxSettings = OutboxSettings()) -> int:
    """Send every mail that is due, one SMTP session per claimed batch; return how many went."""
    sent = 0
    lease = timedelta(seconds=settings.lease_seconds)
    while True:
        with store.begin() as connection:
            claimed = queue.claim(connection, worker, now=now, lease=lease, limit=settings.batch)
        if not claimed:
            return sent
        pending = list(claimed)
        try:
            with mailer.session() as smtp:
                while pending:
                    mail = pending[0]
                    try:
                        smtp.send_message(message_from_bytes(mail.message, policy=default),
                                          mail.sender, [mail.recipient])
                    except REFUSED as error:
                        _not_sent(store, mail, worker, now, settings, type(error).__name__)
                    else:
                        with store.begin() as connection:
                            queue.forget(connection, mail.id, worker)
                        log.info("mail sent id=%d template=%s attempts=%d", mail.id, mail.template,
                                 mail.attempts)
                        sent += 1
                    pending.pop(0)
        except MailError:
            for mail in pending:
                _not_sent(store, mail, worker, now, settings, "the mail server did not answer")
            return sent


def _not_sent(store: Store, mail: queue.QueuedMail, worker: str, now: datetime,
              settings: OutboxSettings, reason: str) -> None:
    with store.begin() as connection:
        if mail.attempts >= settings.max_attempts:
            queue.forget(connection, mail.id, worker)
            log.error("mail dropped id=%d template=%s attempts=%d reason=%s", mail.id, mail.template,
                      mail.attempts, reason)
            return
        delay = settings.retry_delay(mail.attempts)
        queue.retry_later(connection, mail.id, worker, at=now + delay, error=reason)
    log.warning("mail not sent id=%d template=%s attempts=%d retry_in=%ds reason=%s", mail.id,
                mail.template, mail.attempts, delay.total_seconds(), reason)
