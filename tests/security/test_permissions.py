"""The workflow checks who acts, whoever calls it: every sysadmin or coordinator action,
called straight (as the command line or a future API would) by a plain volunteer, is
refused and changes nothing."""

from __future__ import annotations

import pytest

from provisioner.resources import get_portal
from provisioner.workflow import (
    HOST_OPERATOR,
    NotAllowed,
    approve,
    approve_join,
    coordinators,
    decline_join,
    reinstate,
    reject,
    requests_to_decide,
    reset_totp,
    set_coordinator,
    suspend,
    verified_requests,
)
from provisioner.workflow import provisioning as jobs
from provisioner.workflow.approval import reject_selected
from provisioner.workflow.audit_log import AuditQuery, audit_actions, audit_csv, audit_page
from provisioner.workflow.finding import PeopleQuery, RequestFilter, find_people, request_queue

from ldap_helpers import snapshot
from portal_actions import given_totp

ACTIONS = {
    "verified_requests": lambda portal, actor: verified_requests(portal, actor=actor),
    "approve": lambda portal, actor: approve(portal, "nina", None, actor=actor),
    "reject": lambda portal, actor: reject(portal, "nina", "no", actor=actor),
    "reject_selected": lambda portal, actor: reject_selected(portal, ["nina"], "no", actor=actor),
    "request_queue": lambda portal, actor: request_queue(portal, RequestFilter(), actor=actor),
    "find_people": lambda portal, actor: find_people(portal, PeopleQuery(), actor=actor),
    "suspend": lambda portal, actor: suspend(portal, "tess", "no", actor=actor),
    "reinstate": lambda portal, actor: reinstate(portal, "tess", actor=actor),
    "reset_totp": lambda portal, actor: reset_totp(portal, "tess", actor=actor),
    "set_coordinator": lambda portal, actor: set_coordinator(portal, actor, "kitchen", coordinates=True,
                                                             actor=actor),
    "remove_coordinator": lambda portal, actor: set_coordinator(portal, "tess", "kitchen", coordinates=False,
                                                                actor=actor),
    "coordinators": lambda portal, actor: coordinators(portal, actor=actor),
    "recent_jobs": lambda portal, actor: jobs.recent_jobs(portal, actor=actor),
    "job": lambda portal, actor: jobs.job(portal, 1, actor=actor),
    "retry_job": lambda portal, actor: jobs.retry_job(portal, 1, actor=actor),
    "cancel_job": lambda portal, actor: jobs.cancel_job(portal, 1, actor=actor),
    "audit_page": lambda portal, actor: audit_page(portal, AuditQuery(), actor=actor),
    "audit_actions": lambda portal, actor: audit_actions(portal, actor=actor),
    "audit_csv": lambda portal, actor: audit_csv(portal, AuditQuery(), actor=actor),
    "requests_to_decide": lambda portal, actor: requests_to_decide(portal, actor),
    "approve_join": lambda portal, actor: approve_join(portal, 1, actor=actor),
    "decline_join": lambda portal, actor: decline_join(portal, 1, "no", actor=actor),
}


@pytest.fixture
def world(app, make_account, visitor, inbox):
    """vera (a volunteer), tess (with TOTP), nina (a verified request), a job, vera's join request."""
    vera = make_account("vera", groups=["tech"])
    make_account("tess", log_in=False)
    given_totp(app, "tess")
    visitor.register(uid="nina", mail="nina@example.org", display_name="Nina")
    visitor.confirm(inbox.link_in("nina@example.org"))
    vera.submit("/account/groups", {"group": "kitchen"}, action="/account/groups/join")
    with app.app_context():
        get_portal().queue_access("grant", {"vera": ["tech"]}, actor="vera")
    inbox.clear()
    return app


@pytest.mark.parametrize("name", list(ACTIONS))
def test_a_volunteer_calling_a_deciders_action_is_refused_and_nothing_changes(world, slapd_server,
                                                                              store_rows, inbox, name):
    before, rows = snapshot(slapd_server), store_rows()
    with world.app_context(), pytest.raises(NotAllowed):
        ACTIONS[name](get_portal(), "vera")
    assert snapshot(slapd_server) == before and store_rows() == rows and inbox.messages() == []


def test_the_command_line_acts_with_every_right(world, directory):
    with world.app_context():
        set_coordinator(get_portal(), "vera", "kitchen", coordinates=True, actor=HOST_OPERATOR)
    assert "vera" in directory.groups.get("wg-kitchen").owners
