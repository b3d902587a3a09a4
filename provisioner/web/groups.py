"""Working groups, self-service: a volunteer asks to join or leaves; coordinators decide requests."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..directory import DirectoryError, InvalidValue, NotFound
from ..resources import get_portal
from ..teams import read_teams, resolve
from ..workflow import (
    InvalidInput,
    WorkflowError,
    approve_join,
    decline_join,
    leave_group,
    my_groups,
    request_to_join,
    requests_to_decide,
)
from ..workflow.end_dates import members_with_end_dates
from ..workflow.memberships import MAX_REASON, coordinates_any
from ..workflow.renewals import renewals_to_decide
from ..workflow.teams import MAX_TEAM_DESCRIPTION, MAX_TEAM_NAME, create_team
from .language import catalogue_text, gettext, shown
from .security import login_first
from .users import current_user, login_required

blueprint = Blueprint("groups", __name__)
# What is shown to the person as a refusal; an unreachable directory stays a 503.
REFUSALS = (WorkflowError, NotFound, InvalidValue)


def decides_join_requests() -> bool:
    """Whether the logged-in person coordinates a working group or is a sysadmin; once a request."""
    if not current_user.is_authenticated:
        return False
    if "decides_join_requests" not in g:
        g.decides_join_requests = (current_user.is_sysadmin
                                   or coordinates_any(get_portal(), current_user.uid))
    decides: bool = g.decides_join_requests
    return decides


def _shows_join_requests_link() -> bool:
    try:
        return decides_join_requests()
    except DirectoryError:  # an error page must still render when the directory is down
        return False


@blueprint.app_context_processor
def _navigation() -> dict[str, Callable[[], bool]]:
    return {"decides_join_requests": _shows_join_requests_link}


def _refused(verb: str, error: Exception) -> None:
    """`verb` is the refusal's start, as the page's language says it ("Not sent")."""
    said = error.errors.values() if isinstance(error, InvalidInput) else [error]
    reasons = "; ".join(map(shown, said))
    flash(f"{verb}: {reasons}", "error")


# A volunteer's own working groups.

@blueprint.get("/account/groups")
@login_required
def mine() -> ResponseReturnValue:
    return render_template("groups/mine.html", groups=my_groups(get_portal(), current_user.uid),
                           max_name=MAX_TEAM_NAME, max_description=MAX_TEAM_DESCRIPTION)


@blueprint.post("/account/groups/join")
@login_required
def join() -> ResponseReturnValue:
    try:
        join_request, made = request_to_join(get_portal(), current_user.uid, request.form.get("group"),
                                             remote_addr=request.remote_addr)
    except REFUSALS as error:
        _refused(gettext("Not sent"), error)
    else:
        name = _group_name(join_request.slug)
        if made:
            flash(gettext("Your request to join %(name)s is sent to its coordinators. "
                          "You will get a mail when they decide.", name=name))
        else:
            flash(gettext("You already asked to join %(name)s: your request is waiting for its "
                          "coordinators.", name=name))
    return redirect(url_for(".mine"))


@blueprint.post("/account/groups/leave")
@login_required
def leave() -> ResponseReturnValue:
    try:
        group = leave_group(get_portal(), current_user.uid, request.form.get("group"),
                            remote_addr=request.remote_addr)
    except REFUSALS as error:
        _refused(gettext("Not left"), error)
    else:
        flash(gettext("You left %(name)s. Your access to its mailing list, wiki and project "
                      "is being removed.", name=catalogue_text(group.title)))
    return redirect(url_for(".mine"))


@blueprint.post("/account/groups/<wg>/teams")
@login_required
def new_team(wg: str) -> ResponseReturnValue:
    try:
        team = create_team(get_portal(), wg, request.form.get("slug"), request.form.get("name"),
                           request.form.get("description", ""), actor=current_user.uid,
                           remote_addr=request.remote_addr)
    except REFUSALS as error:
        _refused(gettext("Not created"), error)
    else:
        flash(gettext("The team %(name)s is created; its members may now ask to join it.",
                      name=team.title))
    return redirect(url_for(".mine"))


# Coordinators and sysadmins decide.

@blueprint.get("/groups/requests")
@login_first
def requests_to_decide_page() -> ResponseReturnValue:
    portal = get_portal()
    waiting = requests_to_decide(portal, current_user.uid)
    return render_template("groups/requests.html", requests=waiting, max_reason=MAX_REASON,
                           renewals=renewals_to_decide(portal, current_user.uid),
                           members=members_with_end_dates(portal, current_user.uid),
                           today=portal.clock().date(), back="groups")


@blueprint.post("/groups/requests/<int:request_id>/approve")
@login_first
def approve(request_id: int) -> ResponseReturnValue:
    try:
        decided = approve_join(get_portal(), request_id, actor=current_user.uid,
                               remote_addr=request.remote_addr)
    except REFUSALS as error:
        _refused(gettext("Not approved"), error)
    else:
        flash(gettext("%(uid)s is now in %(name)s; their access is being set up.",
                      uid=decided.uid, name=_group_name(decided.slug)))
    return redirect(url_for(".requests_to_decide_page"))


@blueprint.post("/groups/requests/<int:request_id>/decline")
@login_first
def decline(request_id: int) -> ResponseReturnValue:
    try:
        decided = decline_join(get_portal(), request_id, request.form.get("reason", ""),
                               actor=current_user.uid, remote_addr=request.remote_addr)
    except REFUSALS as error:
        _refused(gettext("Not declined"), error)
    else:
        flash(gettext("%(uid)s's request to join %(name)s is declined and they have been told.",
                      uid=decided.uid, name=_group_name(decided.slug)))
    return redirect(url_for(".requests_to_decide_page"))


def _group_name(slug: str) -> str:
    portal = get_portal()
    teams = read_teams(portal.directory, portal.catalogue) if "." in slug else {}
    group = resolve(portal.catalogue, teams, slug)
    return catalogue_text(group.title) if group else slug
