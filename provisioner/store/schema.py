"""Every table of the store, in one place so the whole schema reads at a glance."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Who did what to whom, and when. Never a password or a token.
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(64)),          # uid, or None for the public / the system
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(64), index=True),  # the uid acted upon
    sa.Column("detail", sa.Text),
    sa.Column("remote_addr", sa.String(45)),
)

# Single-use links: the SHA-256 of each token once used (never the token itself).
used_tokens = sa.Table(
    "used_tokens", metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
)

# Logged-in sessions, so that one or all of a person's sessions can be ended (logout,
# logout everywhere, password reset). The cookie holds a random token; only its
# SHA-256 is kept here.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("uid", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("remote_addr", sa.String(45)),
)

# One decision per registration request (approve or reject), keyed by the request
# entry's entryUUID: the first sysadmin to claim it acts, so concurrent clicks, from
# one sysadmin or several, decide once. An unfinished claim is released when its
# decision fails half-way, or taken over once it is stale (the portal process died).
request_decisions = sa.Table(
    "request_decisions", metadata,
    sa.Column("entry_id", sa.String(64), primary_key=True),
    sa.Column("uid", sa.String(64), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),   # approve, reject
    sa.Column("actor", sa.String(64)),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),    # set once its effects are committed
)

# Provisioning jobs: grant or revoke access for some volunteers. A worker holds a
# running job under a lease; when the lease runs out (the worker died), another
# worker may claim it again.
jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),     # grant, revoke, reconcile
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_expires", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(64)),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    # Set when a run failed for the job's own volunteers (a service refused their data):
    # from then on the job runs alone, so that it never fails the volunteers of others.
    # Added after the first release: an existing store needs
    # ALTER TABLE jobs ADD COLUMN runs_alone BOOLEAN NOT NULL DEFAULT FALSE
    sa.Column("runs_alone", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    # A reconcile's services (space-separated: lists wiki redmine); None for a grant or revoke.
    # Added by revision 0009.
    sa.Column("services", sa.String(64)),
    # One reconcile waiting or running at a time: two repairs asked at once queue one job.
    sa.Index("jobs_one_reconcile", "kind", unique=True,
             sqlite_where=sa.text("kind = 'reconcile' AND state IN ('queued', 'running')"),
             postgresql_where=sa.text("kind = 'reconcile' AND state IN ('queued', 'running')")),
)

# Who a job is for, and which working groups (space-separated slugs).
job_targets = sa.Table(
    "job_targets", metadata,
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("uid", sa.String(64), primary_key=True, index=True),
    sa.Column("groups", sa.Text, nullable=False),
    # The address a revoke reaches Mailman by when the entry is gone (a deleted account);
    # cleared once the job has succeeded. Added by revision 0004.
    sa.Column("mail", sa.String(254)),
    # A deleted account's pseudonym: the services forget them, and its rows of this job (here
    # and in job_results) take it instead of the uid when it succeeds. Added by revision 0005.
    sa.Column("forget_as", sa.String(80)),
)

# What each task did for each volunteer and service, attempt by attempt.
job_results = sa.Table(
    "job_results", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(128), nullable=False),
    sa.Column("uid", sa.String(64), nullable=False, index=True),
    sa.Column("service", sa.String(32), nullable=False),
    sa.Column("task", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ok, changed, failed
    sa.Column("message", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# Volunteers' requests to join a working group, decided by its coordinators or a
# sysadmin. At most one open request per person and group, kept by the database
# (a partial unique index) so that two quick clicks cannot make two.
group_requests = sa.Table(
    "group_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", sa.String(64), nullable=False, index=True),
    sa.Column("slug", sa.String(80), nullable=False),      # the working group, or a team (<wg>.<team>)
    sa.Column("state", sa.String(16), nullable=False),     # open, approved, declined
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("reason", sa.Text),                          # a decline's reason, as mailed
    sa.Index("group_requests_one_open", "uid", "slug", unique=True,
             sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'")),
)

# TOTP recovery codes: ten per enrolment, each usable once. Only a salted scrypt hash
# of each code is kept; the codes themselves are shown once and never stored.
totp_recovery_codes = sa.Table(
    "totp_recovery_codes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", sa.String(64), nullable=False, index=True),
    sa.Column("salt", sa.String(32), nullable=False),      # hex, 16 random bytes per code
    sa.Column("digest", sa.String(64), nullable=False),    # hex scrypt of the code
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
)

# Abuse limits: one row per counted event (a failed login, a failed code, a mail sent),
# so that every portal process sees the same counts. The key is a lowercased uid or
# an address (client or mail); never a password or a code.
throttle_events = sa.Table(
    "throttle_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("key", sa.String(320), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("throttle_events_lookup", "kind", "key", "at"),
)

# Invitations into working groups, sent by a sysadmin or a group's coordinator. The
# link's token is never kept, only its SHA-256. At most one open invitation per address
# (a partial unique index on the lowercased address), so that two clicks, or an import
# run twice, cannot invite anyone twice. An acceptance claims the row first (uid and
# claimed_at), so that of two at once one creates the account.
invitations = sa.Table(
    "invitations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("mail", sa.String(254), nullable=False),          # as the inviter typed it
    sa.Column("mail_key", sa.String(254), nullable=False, index=True),  # lowercased
    sa.Column("groups", sa.Text, nullable=False),               # space-separated slugs
    sa.Column("end_date", sa.Date),                             # the account's last day
    sa.Column("display_name", sa.String(128)),                  # prefills the form
    sa.Column("invited_by", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),          # open, used, withdrawn, expired
    sa.Column("uid", sa.String(64)),                            # the username chosen, then the account
    sa.Column("claimed_at", sa.DateTime(timezone=True)),        # an acceptance under way
    sa.Column("closed_at", sa.DateTime(timezone=True)),         # used, withdrawn or found expired
    sa.Column("closed_by", sa.String(64)),                      # who withdrew it
    sa.Column("language", sa.String(16)),                       # of its mail and page (0012); none: English
    sa.Index("invitations_one_open", "mail_key", unique=True,
             sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'")),
)

# Mails and steps about an account's end date, done once per account and end date:
# `kind` is reminder, expiry (the revoke and its audit entry) or expiry-mail. The first
# INSERT wins, so two `provisioner expire` runs at once do each once; a new end date
# starts afresh. Added by revision 0007.
end_date_notices = sa.Table(
    "end_date_notices", metadata,
    sa.Column("uid", sa.String(64), primary_key=True),
    sa.Column("end_date", sa.Date, primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# Volunteers' requests to renew their account (a new end date), decided by the
# coordinators of their working groups or a sysadmin. One open request per person
# (a partial unique index, as group_requests). Added by revision 0007.
renewal_requests = sa.Table(
    "renewal_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uid", sa.String(64), nullable=False, index=True),
    sa.Column("end_date", sa.Date),                        # the end date they asked from
    sa.Column("note", sa.Text),                            # what they wrote, optional
    sa.Column("state", sa.String(16), nullable=False),     # open, renewed, declined
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("new_end_date", sa.Date),                    # a renewal's new end date, None for none
    sa.Column("reason", sa.Text),                          # a decline's reason, as mailed
    sa.Index("renewal_requests_one_open", "uid", unique=True,
             sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'")),
)

# Approval previews (issue 17): a sysadmin asks what approving a request would do; the
# worker answers with a check-mode run of the grant playbook. One row per request, asked
# again replaces it. `fingerprint` says which state of the request the run read, so a
# preview of a request that changed since is not shown as current. Nothing secret: the
# modules' messages (names of lists, namespaces, projects, the address). Added by 0008.
previews = sa.Table(
    "previews", metadata,
    sa.Column("uid", sa.String(64), primary_key=True),
    sa.Column("asked_by", sa.String(64), nullable=False),
    sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),     # waiting, running, done, failed
    sa.Column("worker", sa.String(128)),                   # the worker running it
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("fingerprint", sa.String(64)),               # of the request the run read
    sa.Column("outcomes", sa.Text),                        # JSON: [{service, task, status, message}]
    sa.Column("error", sa.Text),                           # why the run failed, in words
)

# The drift checks (issue 17): each service compared with the directory, by
# `provisioner reconcile --check` (a daily timer) or before a repair. Only the newest
# few are kept (store/drift.py); the dashboard shows the last. Added by 0009.
drift_checks = sa.Table(
    "drift_checks", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("services", sa.String(64), nullable=False),   # space-separated
    sa.Column("error", sa.Text),     # why the check could not finish (a service down)
)

# What one check found: someone a service holds otherwise than the directory says.
drift_differences = sa.Table(
    "drift_differences", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("check_id", sa.Integer, sa.ForeignKey("drift_checks.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("service", sa.String(32), nullable=False),
    # a uid, or the service's own name for someone the directory does not know (an address)
    sa.Column("identity", sa.String(254), nullable=False),
    sa.Column("what", sa.Text, nullable=False),
)

# Mail a web request sent (issue 18): composed in the request, sent by the worker on its
# next poll, so no request waits on SMTP. A worker claims a row (claimed_by, until
# claimed_until) with a conditional UPDATE, as jobs are claimed; the row is deleted once
# the mail server took it, so a link a mail carries stays here only until then. Added by 0011.
mail_outbox = sa.Table(
    "mail_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("template", sa.String(64), nullable=False),    # which mail, for the logs
    sa.Column("sender", sa.String(254), nullable=False),
    sa.Column("recipient", sa.String(254), nullable=False),
    sa.Column("message", sa.LargeBinary, nullable=False),    # the whole rendered mail
    sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("claimed_until", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),                        # the kind of failure, in words
)
