"""Mail to volunteers and sysadmins, sent through the configured SMTP server.

Each mail is a text template under `templates/`: its first line is
`Subject: ...`, the rest is the body. Its texts are in `{% trans %}` blocks, rendered in
the language asked for (the recipient's), with dates by that language's rules. A web
request only composes a mail and queues it (outbox.py); the worker opens the SMTP
session and sends it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import make_msgid

import jinja2

from .. import languages

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("provisioner.mail", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    extensions=["jinja2.ext.i18n"],
    autoescape=False,  # noqa: S701 - plain text mails, never rendered as HTML
)


def _language_context(language: str) -> dict[str, object]:
    """gettext and the date filter of one language, handed to a single rendering (the
    environment is shared by threads that may be writing in other languages)."""
    catalogue = languages.translations(language)

    def day(value: date | str) -> str:
        return languages.day(value, language) if isinstance(value, date) else value

    return {"gettext": catalogue.gettext, "ngettext": catalogue.ngettext, "_": catalogue.gettext,
            "day": day}


class MailError(RuntimeError):
    """The mail server did not take the mail."""


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    sender: str
    organisation: str
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0

    def compose(self, to: str, template: str, *, language: str | None = None,
                **context: object) -> EmailMessage:
        """The mail in `language` (a code the portal knows), else in English."""
        text = _templates.get_template(f"{template}.txt").render(
            organisation=self.organisation, **_language_context(languages.or_source(language)), **context)
        subject_line, _, body = text.partition("\n")
        if not subject_line.startswith("Subject: "):
            raise ValueError(f"mail template {template} must start with 'Subject: '")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject_line.removeprefix("Subject: ").strip()
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body.lstrip("\n"))
        return message

    @contextmanager
    def session(self) -> Iterator[smtplib.SMTP]:
        """A logged-in SMTP connection; MailError when the server cannot be reached."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                yield smtp
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(
                f"the mail server {self.host}:{self.port} did not take the mail ({error})"
            ) from None
