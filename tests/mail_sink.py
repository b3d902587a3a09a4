"""The mail the portal sent, as the stack's SMTP server (private_services/smtp.py) put it in a Maildir.

The portal only queues its mail; the worker sends it on its next poll. Reading the sink
first runs that step (`portal_actions.deliver_outbox`) for each app the test made
(`deliver_from`), so a test reads what a person would find a poll later;
`messages(..., deliver=False)` reads only what was sent already.
"""

from __future__ import annotations

import mailbox
import re
import shutil
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from flask import Flask

from provisioner.private_services.smtp import MAILDIR, PrivateSmtp

from portal_actions import deliver_outbox

LINK = re.compile(r"https?://\S+")


class MailSink:
    def __init__(self, server: PrivateSmtp):
        assert server.kind == MAILDIR and server.running
        self.server = server
        self.path = server.maildir
        self.apps: list[Flask] = []

    def deliver_from(self, app: Flask) -> Flask:
        """Send this app's queued mail before each read; returns the app."""
        self.apps.append(app)
        return app

    def deliver(self) -> int:
        return sum(deliver_outbox(app) for app in self.apps)

    @property
    def port(self) -> int:
        return self.server.port

    def clear(self) -> None:
        """Forget the mail sent so far, and what the apps queued so far (sent first)."""
        self.deliver()
        if self.path.exists():
            shutil.rmtree(self.path)
            mailbox.Maildir(str(self.path), create=True)

    def messages(self, to: str | None = None, *, deliver: bool = True) -> list[EmailMessage]:
        if deliver:
            self.deliver()
        if not self.path.exists():
            return []
        box = mailbox.Maildir(str(self.path), factory=None, create=False)
        parsed = [message_from_bytes(message.as_bytes(), policy=default) for message in box]
        return [message for message in parsed if to is None or message["To"] == to]

    def only_message(self, to: str) -> EmailMessage:
        messages = self.messages(to)
        assert len(messages) == 1, f"expected one mail to {to}, got {[m['Subject'] for m in messages]}"
        return messages[0]

    def link_in(self, to: str) -> str:
        """The one link in the one mail sent to `to`."""
        (link,) = LINK.findall(self.only_message(to).get_content())
        return link
