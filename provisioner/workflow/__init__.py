"""The account lifecycle as plain functions over the directory, the store and the mailer.

No Flask here: the web views and the CLI both call these, and every transition
writes its audit record.
"""

from .accounts import (
    create_sysadmin,
    end_all_sessions,
    end_session,
    initialise_directory,
    is_sysadmin,
    log_in,
    resume_session,
    start_session,
)
from .approval import approve, reject, verified_requests
from .context import Portal
from .errors import InvalidInput, LinkInvalid, WorkflowError
from .registration import AVAILABILITY, Registration, purge_expired, register, verify_email
from .suspension import reinstate, suspend

__all__ = [
    "AVAILABILITY", "InvalidInput", "LinkInvalid", "Portal", "Registration", "WorkflowError",
    "approve", "create_sysadmin", "end_all_sessions", "end_session", "initialise_directory",
    "is_sysadmin", "log_in", "purge_expired", "resume_session", "start_session",
    "register", "reinstate", "reject", "suspend", "verified_requests", "verify_email",
]
