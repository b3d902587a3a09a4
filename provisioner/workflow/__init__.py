"""The account lifecycle as plain functions over the directory, the store and the mailer.

No Flask here: the web views and the CLI both call these. Every change of a person's
status goes through the lifecycle's table (lifecycle.py), which refuses a transition
it does not list, writes the audit record and logs the outcome.
"""

from ..store import StoreUnavailable
from .accounts import (
    create_sysadmin,
    end_all_sessions,
    end_session,
    initialise_directory,
    log_in,
    resume_session,
    start_session,
)
from .approval import approve, reject, verified_requests
from .context import Portal
from .coordinators import CoordinatorChange, GroupCoordinators, coordinators, set_coordinator
from .errors import InvalidInput, LinkInvalid, WorkflowError
from .lifecycle import TRANSITIONS, TransitionRefused
from .limits import TooManyAttempts, limited_log_in, limited_second_factor, mail_allowed
from .memberships import (
    MyGroups,
    RequestToDecide,
    approve_join,
    coordinated_groups,
    decline_join,
    groups_decided_by,
    leave_group,
    my_groups,
    request_to_join,
    requests_to_decide,
    working_groups_of,
)
from .password_reset import check_reset_link, request_password_reset, reset_password
from .permissions import HOST_OPERATOR, NotAllowed, is_sysadmin
from .registration import AVAILABILITY, Registration, purge_expired, register, verify_email
from .self_service import (
    change_display_name,
    change_password,
    check_email_change_link,
    confirm_email_change,
    request_email_change,
    set_language,
)
from .suspension import reinstate, suspend
from .totp import (
    SecondFactor,
    TotpStatus,
    check_second_factor,
    confirm_enrolment,
    enrolled_uids,
    has_totp,
    must_enrol,
    new_secret,
    provisioning_uri,
    reset_totp,
    totp_required,
    totp_status,
)

__all__ = [
    "AVAILABILITY", "InvalidInput", "LinkInvalid", "Portal", "Registration", "StoreUnavailable",
    "WorkflowError", "TRANSITIONS", "TransitionRefused",
    "HOST_OPERATOR", "approve", "create_sysadmin", "end_all_sessions", "end_session",
    "initialise_directory",
    "is_sysadmin", "log_in", "purge_expired", "resume_session", "start_session",
    "register", "reinstate", "reject", "suspend", "verified_requests", "verify_email",
    "MyGroups", "NotAllowed", "RequestToDecide", "approve_join", "coordinated_groups",
    "decline_join", "groups_decided_by", "leave_group", "my_groups", "request_to_join",
    "requests_to_decide", "working_groups_of",
    "CoordinatorChange", "GroupCoordinators", "coordinators", "set_coordinator",
    "change_display_name", "change_password", "check_email_change_link", "check_reset_link",
    "confirm_email_change", "request_email_change", "request_password_reset", "reset_password",
    "set_language",
    "SecondFactor", "TotpStatus", "check_second_factor", "confirm_enrolment", "enrolled_uids",
    "has_totp", "must_enrol", "new_secret", "provisioning_uri", "reset_totp", "totp_required",
    "totp_status",
    "TooManyAttempts", "limited_log_in", "limited_second_factor", "mail_allowed",
]
