"""The `provisioner` command: Flask's CLI over create_app, plus the project's commands."""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import datetime, timedelta
from typing import BinaryIO

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, NoAppException, with_appcontext

from . import create_app, workflow
from .catalogue import CatalogueError
from .config import ENV_PREFIX, ConfigError, load_settings
from .directory import DirectoryError
from .jobs import Worker
from .languages import SOURCE_LANGUAGE
from .mail import MailError
from .passwords import WeakPassword
from .resources import (
    get_catalogue,
    get_directory,
    get_portal,
    get_store,
    job_settings,
    runner_settings,
)
from .runner import PlaybookRunner
from .store import Store, StoreUnavailable
from .store.migrate import SchemaError
from .workflow import drift, end_dates
from .workflow.invitations import forget_unused, invite
from .workflow.limits import forget_old_events
from .workflow.own_data import forget_rejected
from .workflow.sign_up_sheet import MAX_SHEET_BYTES, SheetInvalid, import_sheet
from .workflow.terms import parse_end_date


@click.command("init-directory")
@with_appcontext
def init_directory() -> None:
    """Create the tree and one group per working group (safe to run again)."""
    try:
        created = workflow.initialise_directory(
            get_directory(), get_catalogue(), current_app.config["OCCUPATION_NAME"])
    except DirectoryError as error:
        raise click.ClickException(str(error)) from None
    for dn in created:
        click.echo(f"created {dn}")
    if not created:
        click.echo("The directory is complete: nothing to change.")


# How the audit log names someone acting from the portal host's command line.


def read_password() -> str:
    """From a hidden prompt on a terminal, else the first line of stdin; never argv."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@click.command("create-admin")
@click.argument("uid")
@click.argument("email")
@click.option("--name", help="Display name (default: the uid).")
@with_appcontext
def create_admin(uid: str, email: str, name: str | None) -> None:
    """Create a sysadmin account; the password comes from a prompt or stdin."""
    password = read_password()
    try:
        workflow.create_sysadmin(get_directory(), uid, email, name or uid, password, portal=get_portal())
    except (DirectoryError, WeakPassword, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{uid} is a sysadmin.")


@click.command("purge-expired")
@with_appcontext
def purge_expired() -> None:
    """Delete registration requests whose verification link has expired, pseudonymise the
    audit entries of requests rejected more than REJECTED_RETENTION_DAYS ago, and delete
    invitations withdrawn or expired more than UNUSED_INVITATION_RETENTION_DAYS ago."""
    retention = timedelta(days=current_app.config["REJECTED_RETENTION_DAYS"])
    unused = timedelta(days=current_app.config["UNUSED_INVITATION_RETENTION_DAYS"])
    try:
        purged = workflow.purge_expired(get_portal())
        forgotten = forget_rejected(get_portal(), retention=retention)
        deleted = forget_unused(get_portal(), retention=unused, actor=workflow.HOST_OPERATOR)
    except (DirectoryError, StoreUnavailable, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Removed {len(purged)} expired request(s){': ' if purged else '.'}{', '.join(purged)}")
    click.echo(f"Pseudonymised {forgotten} rejected request(s) older than {retention.days} days "
               "in the audit log.")
    click.echo(f"Deleted {deleted} invitation(s) nobody used, closed more than {unused.days} days ago.")


@click.command("prune-limits")
@with_appcontext
def prune_limits() -> None:
    """Delete counted abuse-limit events older than any limit's window (run from a timer)."""
    try:
        removed = forget_old_events(get_portal())
    except StoreUnavailable as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Removed {removed} old abuse-limit event(s).")


@click.command("upgrade")
def upgrade() -> None:
    """Bring the store's database to the current schema; safe to run again.

    It runs without create_app, which would migrate first and leave it nothing to report.
    """
    try:
        store = Store(load_settings()["DATABASE_URL"])
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    try:
        click.echo(store.create_schema().describe())
    except (StoreUnavailable, SchemaError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.dispose()


@click.command("reset-totp")
@click.argument("uid")
@with_appcontext
def reset_totp_command(uid: str) -> None:
    """Remove someone's two-step login (the way back for a locked-out last sysadmin)."""
    try:
        workflow.reset_totp(get_portal(), uid, actor=workflow.HOST_OPERATOR)
    except (DirectoryError, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{uid} logs in with their password alone now, and is mailed about it.")


@click.command("set-coordinator")
@click.argument("uid")
@click.argument("group")
@click.option("--remove", is_flag=True, help="Stop them coordinating the group.")
@with_appcontext
def set_coordinator(uid: str, group: str, remove: bool) -> None:
    """Make UID a coordinator (an owner) of the working group GROUP (its slug), or stop it.

    Someone not in the group becomes a member too. A job is queued that gives them the
    keys of the group's list, wiki and project (or takes them back)."""
    try:
        change = workflow.set_coordinator(get_portal(), uid, group, coordinates=not remove,
                                          actor=workflow.HOST_OPERATOR)
    except (DirectoryError, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(change.summary())


LANGUAGE_OPTION = click.option(
    "--language", default=SOURCE_LANGUAGE, show_default=True, metavar="CODE",
    help="The language of the mail, of the page that accepts it and of the account (one with a "
         "catalogue, such as es).")


@click.command("invite")
@click.argument("email")
@click.option("--group", "groups", multiple=True, required=True, metavar="SLUG",
              help="A working group to invite into; give it once per group.")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="The account's last day (default: none, the account stays).")
@click.option("--name", default="", help="Their name, filled in on the form for them.")
@LANGUAGE_OPTION
@with_appcontext
def invite_command(email: str, groups: tuple[str, ...], until: datetime | None, name: str,
                   language: str) -> None:
    """Mail EMAIL an invitation into working groups: its link makes an active account."""
    try:
        invitation = invite(get_portal(), email, groups, until=until.date() if until else None,
                            actor=workflow.HOST_OPERATOR, display_name=name, language=language)
    except workflow.InvalidInput as error:
        raise click.ClickException("; ".join(error.errors.values())) from None
    except (DirectoryError, StoreUnavailable, MailError, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Invitation {invitation.id} sent to {invitation.mail}; its link works until "
               f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC.")


@click.command("import")
@click.argument("sheet", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would be sent; send nothing.")
@LANGUAGE_OPTION
@with_appcontext
def import_command(sheet: BinaryIO, dry_run: bool, language: str) -> None:
    """Invite everyone of a sign-up sheet (CSV: name, email, groups, optional end_date).

    Nothing is sent unless every row is valid; an address with an account or an
    invitation is skipped, so importing a file again invites nobody twice."""
    data = sheet.read(MAX_SHEET_BYTES + 1)
    try:
        outcomes = import_sheet(get_portal(), data, actor=workflow.HOST_OPERATOR, dry_run=dry_run,
                                language=language)
    except SheetInvalid as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"{len(error.problems)} problem(s) in {sheet.name}: nothing "
                                   "was sent.") from None
    except (DirectoryError, StoreUnavailable, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    for outcome in outcomes:
        click.echo(f"line {outcome.line}: {outcome.mail}: {outcome.outcome}: {outcome.detail}")
    counts = {kind: sum(o.outcome == kind for o in outcomes) for kind in dict.fromkeys(
        o.outcome for o in outcomes)}
    click.echo(", ".join(f"{count} {kind}" for kind, count in counts.items()) or "Nobody to invite.")
    if any(outcome.outcome == "failed" for outcome in outcomes):
        sys.exit(1)


@click.command("set-end-date")
@click.argument("uid")
@click.argument("end_date", metavar="YYYY-MM-DD|none")
@with_appcontext
def set_end_date(uid: str, end_date: str) -> None:
    """Set UID's end date, their account's last day, or remove it with `none`; an expired
    account is renewed (unlocked, its access granted again)."""
    portal = get_portal()
    try:
        day = parse_end_date(end_date, today=portal.clock().date())
        renewed = end_dates.set_end_date(portal, uid, day, actor=workflow.HOST_OPERATOR)
    except workflow.InvalidInput as error:
        raise click.ClickException("; ".join(error.errors.values())) from None
    except (DirectoryError, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    said = f"ends on {day.isoformat()}" if day else "has no end date"
    click.echo(f"{uid} {said}." + (" Their account is active again; a grant is queued." if renewed else ""))


@click.command("expire")
@with_appcontext
def expire() -> None:
    """Mail the reminders due before accounts' end dates and end every account past its end
    date (locked, access revoked, mailed); run hourly from a timer, safe to run again."""
    try:
        run = end_dates.expire_accounts(get_portal())
    except (DirectoryError, StoreUnavailable, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Reminded {len(run.reminded)} account(s){': ' if run.reminded else '.'}"
               f"{', '.join(run.reminded)}")
    click.echo(f"Ended {len(run.expired)} account(s){': ' if run.expired else '.'}{', '.join(run.expired)}")
    for uid, reason in run.failed.items():
        click.echo(f"{uid}: not done, the next run tries again: {reason}", err=True)
    if run.failed:
        raise click.exceptions.Exit(1)


@click.command("reconcile")
@click.option("--check", "check_only", is_flag=True,
              help="List every difference and change nothing; exit status 1 when there is one.")
@click.option("--service", "services", multiple=True, metavar="NAME",
              help=f"Only this service ({', '.join(drift.SERVICES)}); give it once per service.")
@with_appcontext
def reconcile(check_only: bool, services: tuple[str, ...]) -> None:
    """Compare the services with the directory (Mailman's rosters, Redmine's projects and
    users, the wiki's ACL lines) and, without --check, queue one job that repairs every
    difference. The check's result is kept for the sysadmins' drift page."""
    runner = PlaybookRunner(runner_settings(current_app))
    _scrub_environment()
    try:
        drift.chosen_services(services)     # a wrong name is refused before anything runs
        if check_only:
            check = drift.check_drift(get_portal(), runner, actor=workflow.HOST_OPERATOR,
                                      services=services or None)
        else:
            repair = drift.repair_drift(get_portal(), runner, actor=workflow.HOST_OPERATOR,
                                        services=services or None)
            check = repair.check
    except (DirectoryError, StoreUnavailable, workflow.WorkflowError) as error:
        raise click.ClickException(str(error)) from None
    for difference in check.differences:
        click.echo(f"{difference.service}: {difference.identity}: {difference.what}")
    click.echo(f"{len(check.differences)} difference(s) on {', '.join(check.services)}.")
    if check.error:
        click.echo(f"The check did not finish: {check.error}", err=True)
    if not check_only:
        if repair.job_id is None:
            click.echo("Nothing to repair.")
        elif repair.queued:
            click.echo(f"Repair queued as job {repair.job_id}.")
        else:
            click.echo(f"A repair is already queued or running: job {repair.job_id}.")
    if check.error or (check_only and check.differences):
        raise click.exceptions.Exit(1)


def _scrub_environment() -> None:
    """ansible-runner copies this process's environment into its artifacts: no secret may be
    in it (the settings are read by now)."""
    for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        del os.environ[name]


@click.command("worker")
@click.option("--once", is_flag=True, help="Run what is runnable now, then stop.")
@with_appcontext
def worker(once: bool) -> None:
    """Send the portal's queued mail and run provisioning jobs: claim queued jobs, run the
    playbook, record the results."""
    _scrub_environment()
    job_worker = Worker(get_store(), get_directory(), get_catalogue(),
                        PlaybookRunner(runner_settings(current_app)), job_settings(current_app.config),
                        mailer=current_app.extensions["mailer"])
    signal.signal(signal.SIGTERM, lambda *_: job_worker.stopping.set())
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    click.echo(f"worker {job_worker.name}: inventory {current_app.config['INVENTORY']}")
    if once:
        click.echo(f"ran {job_worker.run_once()} job(s)")
    else:
        job_worker.run()


@click.command("demo")
@click.option("--port", default=5000, show_default=True, help="Port of the portal on 127.0.0.1.")
@click.option("--folder", default="var", show_default=True,
              help="Where the demo keeps its data, its settings (config.py) and the services' credentials.")
def demo(port: int, folder: str) -> None:
    """Run the portal on a private slapd, Mailman, DokuWiki and Redmine, with a demo sysadmin.

    The settings go to FOLDER/config.py: PROVISIONER_CONFIG=FOLDER/config.py runs any
    other command against the demo.
    """
    from .demo import run_demo

    run_demo(folder, port)


def _create_app() -> Flask:
    """create_app, with a configuration problem shown as one line, not a traceback."""
    try:
        return create_app()
    except (ConfigError, CatalogueError) as error:
        raise NoAppException(str(error)) from None


cli = FlaskGroup(create_app=_create_app, help="occupy-provisioner: volunteers in, accounts out.")
for command in (init_directory, create_admin, purge_expired, prune_limits, reset_totp_command,
                set_coordinator, upgrade, worker, demo, invite_command, import_command,
                set_end_date, expire, reconcile):
    cli.add_command(command)


def main() -> None:
    cli.main(prog_name="provisioner")
