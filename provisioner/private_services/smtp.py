"""A private SMTP server on loopback: where the portal's mail goes in the demo, the tests and benchmarks.

aiosmtpd (the `demo` and `test` extras) serves in a thread of this process on a free
port. What becomes of a mail is the server's `kind`: PRINT shows it on this
process's output (the demo: the verification link can be followed from the
terminal), MAILDIR delivers it into `<folder>/maildir` (the tests read it),
DISCARD accepts it and keeps nothing (benchmarks: the portal's mail costs, no disk).
"""

from __future__ import annotations

import os
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import TYPE_CHECKING

from .process import free_port

if TYPE_CHECKING:   # aiosmtpd is an extra: imported where a server starts
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP, Envelope, Session

PRINT, MAILDIR, DISCARD = "print", "maildir", "discard"
START_ATTEMPTS = 3   # another process may take the free port first


class SmtpError(RuntimeError):
    """aiosmtpd is missing or the server did not start."""


class _Printing:
    """aiosmtpd handler: print each mail instead of delivering it."""

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802 - aiosmtpd's name
                          envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)   # the server is not told to decode_data
        message = message_from_bytes(envelope.content, policy=default)
        print(f"\n----- mail to {', '.join(envelope.rcpt_tos)}: {message['Subject']} -----\n"
              f"{message.get_content()}-----", flush=True)
        return "250 Message accepted for delivery"


class _Discarding:
    """aiosmtpd handler: accept every mail and keep none."""

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802 - aiosmtpd's name
                          envelope: Envelope) -> str:
        return "250 OK"


class PrivateSmtp:
    """An SMTP server on 127.0.0.1:`port`, in a thread; usable as a context manager."""

    def __init__(self, folder: str | os.PathLike[str], kind: str = MAILDIR):
        if kind not in (PRINT, MAILDIR, DISCARD):
            raise ValueError(f"unknown kind of SMTP server {kind!r}")
        self.folder = Path(folder).resolve()
        self.kind = kind
        self.port: int | None = None
        self._controller: Controller | None = None

    @property
    def maildir(self) -> Path:
        """Where a MAILDIR server delivers (aiosmtpd creates it with the first mail)."""
        return self.folder / "maildir"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def _handler(self) -> _Printing | _Discarding | Mailbox:
        if self.kind == PRINT:
            return _Printing()
        if self.kind == DISCARD:
            return _Discarding()
        from aiosmtpd.handlers import Mailbox

        self.folder.mkdir(parents=True, exist_ok=True)
        return Mailbox(self.maildir)

    def start(self) -> PrivateSmtp:
        if self._controller is not None:
            return self
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise SmtpError("aiosmtpd is not installed: install the project with its demo or test "
                            "extras (make demo and make test do it for you)") from None
        error: Exception | None = None
        for _attempt in range(START_ATTEMPTS):
            port = self.port or free_port()
            controller = Controller(self._handler(), hostname="127.0.0.1", port=port)
            try:
                controller.start()
            except (OSError, RuntimeError) as failure:   # the port taken meanwhile
                error = failure
                continue
            self.port, self._controller = port, controller
            return self
        raise SmtpError(f"the SMTP server did not start on 127.0.0.1: {error}")

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> PrivateSmtp:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
