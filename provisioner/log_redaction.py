"""Keep single-use link tokens out of request logs.

Links in mails carry their token in the path (/verify/<token>); a web server's
access log would otherwise write it down. The filter rewrites such paths in
every record of the loggers that log requests.
"""

from __future__ import annotations

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/verify/|/reset/|/account/email/)[^\s\"?#]+")
REQUEST_LOGGERS = ("werkzeug", "gunicorn.access")


class TokenRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = TOKEN_IN_PATH.sub(r"\1[token]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, TokenRedactingFilter) for existing in logger.filters):
            logger.addFilter(TokenRedactingFilter())
