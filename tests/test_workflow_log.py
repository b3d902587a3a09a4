"""The workflow's log (logger provisioner.workflow): one key=value line per transition,
naming the transition, who acted, whose entry and the outcome; never a password, a
link, an address or anything a person typed."""

from __future__ import annotations

import logging
from datetime import timedelta

from provisioner.resources import get_portal
from provisioner.workflow import purge_expired

from portal_actions import ADMIN_PASSWORD, VOLUNTEER_PASSWORD

NOTE = "Free on weekends, ring me on 0612 345 678"
REJECTION = "We only take people we have met at the assembly"
SUSPENSION = "Shouted at the kitchen crew on Tuesday"


def workflow_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "provisioner.workflow"]


def test_each_transition_logs_one_line_and_nothing_anyone_typed(app, visitor, sysadmin, inbox, caplog):
    caplog.set_level(logging.INFO, logger="provisioner.workflow")
    visitor.register(note=NOTE)
    link = inbox.link_in("vera@example.org")
    visitor.confirm(link)
    visitor.register(uid="victor", display_name="Victor Volunteer", mail="victor@example.org", note=NOTE)
    visitor.confirm(inbox.link_in("victor@example.org"))
    visitor.register(uid="<b>uma</b>", mail="uma@example.org")   # refused as typed: no transition
    sysadmin.approve("vera", ["kitchen"])
    sysadmin.approve("vera", ["kitchen"])
    sysadmin.approve("vera@example.org", ["kitchen"])            # not a uid: left out of the log
    sysadmin.reject("victor", REJECTION)
    sysadmin.submit("/admin/people", {"reason": SUSPENSION}, action="/admin/people/vera/suspend")
    sysadmin.submit("/admin/people", {}, action="/admin/people/vera/reinstate")
    visitor.register(mail="someone.else@example.org", password="another long passphrase here",
                     password_again="another long passphrase here")
    visitor.register(uid="uma", display_name="Uma Volunteer", mail="uma@example.org")
    with app.app_context():
        portal = get_portal()
        purge_expired(portal, now=portal.clock() + timedelta(hours=portal.verify_link_hours + 1))

    lines = workflow_lines(caplog)
    assert lines == [
        "transition=register actor=- subject=vera from=none to=unverified outcome=done",
        "transition=verify actor=vera subject=vera from=unverified to=verified outcome=done",
        "transition=register actor=- subject=victor from=none to=unverified outcome=done",
        "transition=verify actor=victor subject=victor from=unverified to=verified outcome=done",
        "transition=approve actor=sam subject=vera from=verified to=active outcome=done",
        "transition=approve actor=sam subject=vera from=active outcome=refused error=TransitionRefused",
        "transition=approve actor=sam subject=- from=none outcome=refused error=TransitionRefused",
        "transition=reject actor=sam subject=victor from=verified to=deleted outcome=done",
        "transition=suspend actor=sam subject=vera from=active to=suspended outcome=done",
        "transition=reinstate actor=sam subject=vera from=suspended to=active outcome=done",
        "transition=register actor=- subject=vera from=active outcome=refused error=TransitionRefused",
        "transition=register actor=- subject=uma from=none to=unverified outcome=done",
        "transition=expire actor=command-line subject=uma from=unverified to=deleted outcome=done",
    ]
    text = "\n".join(lines)
    token = link.rsplit("/", 1)[1]
    for private in (VOLUNTEER_PASSWORD, ADMIN_PASSWORD, "another long passphrase", token, "@",
                    "example.org", NOTE, "0612", REJECTION, SUSPENSION, "Vera Volunteer", "<b>"):
        assert private not in text
