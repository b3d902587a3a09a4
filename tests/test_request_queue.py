"""The approval queue as a sysadmin works through it: one row per request, filters, pages,
select all, and rejecting several at once (issue 16)."""

from __future__ import annotations

import html
import re
import threading

import sqlalchemy as sa

from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal, get_store
from provisioner.store.schema import audit_log
from provisioner.workflow import WorkflowError, reject
from provisioner.workflow.approval import MAX_SELECTED, reject_selected

from ldap_helpers import snapshot

QUEUE = "/admin/requests"
ROW = re.compile(r'<tr id="request-([a-z0-9-]+)">')
REASON = "We only take people we have met at the assembly."
ROW_BOUND = 4096  # bytes a row may take, its hidden details and forms included
PAGE_FRAME = 8192  # the page around the rows


def add_requests(directory, count: int, *, prefix: str = "req", groups=("kitchen",),
                 availability: str = "day") -> list[str]:
    """Verified requests, as registration and verification leave them."""
    uids = [f"{prefix}{number:03d}" for number in range(count)]
    for uid in uids:
        directory.people.add(NewPerson(uid=uid, display_name=f"{uid.title()} Volunteer",
                                       mail=f"{uid}@example.org", status=Status.VERIFIED,
                                       requested_groups=tuple(groups), skills=("cooking",),
                                       availability=availability, note="Free on weekends"))
    return uids


def page(sysadmin, url: str) -> str:
    response = sysadmin.client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def link(body: str, label: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"[^>]*>{label}</a>', body)
    return html.unescape(found.group(1)) if found else None


def rows(body: str) -> list[str]:
    return ROW.findall(body)


def test_two_hundred_requests_are_one_row_each_a_page_at_a_time(sysadmin, directory):
    everyone = add_requests(directory, 200)
    body = page(sysadmin, QUEUE)
    assert len(rows(body)) == 50 and body.count("<details>") == 50
    assert "1–50 of 200 verified requests" in body
    assert len(body.encode()) <= PAGE_FRAME + 50 * ROW_BOUND
    seen, url = rows(body), link(body, "Next")
    while url:
        body = page(sysadmin, url)
        seen += rows(body)
        url = link(body, "Next")
    assert seen == everyone  # each once, oldest first


def test_filters_keep_to_a_group_and_an_availability_and_page_links_keep_the_filters(
        sysadmin, directory):
    kitchen_days = add_requests(directory, 55, prefix="kd")
    add_requests(directory, 3, prefix="td", groups=("tech",))
    add_requests(directory, 3, prefix="kh", availability="hour")
    body = page(sysadmin, f"{QUEUE}?group=kitchen&availability=day")
    assert rows(body) == kitchen_days[:50] and "of 55 verified requests" in body
    following = link(body, "Next")
    assert following is not None and "group=kitchen" in following and "availability=day" in following
    assert rows(page(sysadmin, following)) == kitchen_days[50:]
    assert rows(page(sysadmin, f"{QUEUE}?group=tech")) == ["td000", "td001", "td002"]
    assert rows(page(sysadmin, f"{QUEUE}?availability=hour")) == ["kh000", "kh001", "kh002"]


def test_a_filter_naming_nothing_known_lists_nothing_and_says_why(sysadmin, directory):
    add_requests(directory, 2)
    body = html.unescape(page(sysadmin, f"{QUEUE}?group=*)(uid=*&availability=<b>"))
    assert rows(body) == []
    assert "choose a working group from the list" in body and "choose an availability" in body
    assert "*)(uid=*" not in body and "<b>" not in body


def test_select_all_shown_checks_every_row_of_the_page_and_keeps_the_filters(sysadmin, directory):
    add_requests(directory, 3)
    add_requests(directory, 2, prefix="td", groups=("tech",))
    body = page(sysadmin, f"{QUEUE}?group=tech")
    assert 'form="bulk" checked' not in body
    select_all = link(body, "Select all shown")
    assert select_all is not None and "group=tech" in select_all
    body = page(sysadmin, select_all)
    checked = re.findall(r'name="uid" value="([a-z0-9-]+)" form="bulk" checked', body)
    assert checked == rows(body) == ["td000", "td001"]
    assert link(body, "Clear the selection") is not None


def rejected_audit(app, uid: str) -> list[str | None]:
    """The actors of the 'rejected' audit entries about `uid`."""
    with app.app_context(), get_store().begin() as connection:
        return list(connection.execute(sa.select(audit_log.c.actor).where(
            audit_log.c.action == "rejected", audit_log.c.subject == uid)).scalars())


def test_rejecting_several_mails_audits_and_deletes_each_and_says_what_became_of_each(
        app, sysadmin, directory, inbox):
    selected = add_requests(directory, 3)
    response = sysadmin.submit(QUEUE, {"uid": [*selected, "nobody"], "reason": REASON},
                               action=f"{QUEUE}/reject-selected")
    assert response.status_code == 302
    body = html.unescape(page(sysadmin, response.location))
    assert "3 rejected, each told why by mail: req000, req001, req002." in body
    assert "nobody: not rejected: nobody is not registered: cannot reject" in body
    for uid in selected:
        assert directory.people.find(uid) is None
        assert REASON in inbox.only_message(f"{uid}@example.org").get_content()
        assert rejected_audit(app, uid) == ["sam"]


def test_a_bulk_rejection_without_reason_or_selection_changes_nothing(sysadmin, directory, inbox,
                                                                      slapd_server):
    selected = add_requests(directory, 2)
    before = snapshot(slapd_server)
    for form, why in (({"uid": selected, "reason": "  "}, "say why"),
                      ({"reason": REASON}, f"select 1 to {MAX_SELECTED} requests"),
                      ({"uid": [f"x{n}" for n in range(MAX_SELECTED + 1)], "reason": REASON},
                       f"select 1 to {MAX_SELECTED} requests")):
        response = sysadmin.submit(QUEUE, form, action=f"{QUEUE}/reject-selected")
        body = html.unescape(page(sysadmin, response.location))
        assert f"Nothing was rejected: {why}" in body
    assert snapshot(slapd_server) == before and inbox.messages() == []


def test_a_single_rejection_during_a_bulk_one_decides_that_request_once(app, sysadmin, directory,
                                                                        inbox):
    selected = add_requests(directory, 3)
    inbox.clear()
    ready = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(name: str, action) -> None:
        with app.app_context():
            portal = get_portal()
            ready.wait(timeout=30)
            try:
                outcomes[name] = action(portal)
            except Exception as error:  # noqa: BLE001 - the outcome is what the test looks at
                outcomes[name] = error

    threads = [threading.Thread(target=run, args=("bulk", lambda portal: reject_selected(
                   portal, selected, REASON, actor="sam"))),
               threading.Thread(target=run, args=("single", lambda portal: reject(
                   portal, "req001", "Another reason", actor="sam")))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    bulk = {outcome.uid: outcome.refused for outcome in outcomes["bulk"]}
    assert bulk["req000"] is None and bulk["req002"] is None
    # req001: exactly one of the two decided it, and the other was told so.
    single = outcomes["single"]
    if bulk["req001"] is None:
        assert isinstance(single, WorkflowError) and str(single).startswith("req001 is already ")
    else:
        assert single is None and bulk["req001"].startswith("req001 is already ")
    for uid in selected:
        assert len(inbox.messages(f"{uid}@example.org")) == 1
        assert rejected_audit(app, uid) == ["sam"]
        assert directory.people.find(uid) is None


def test_a_decision_leads_back_to_the_page_and_filters_it_was_made_on(sysadmin, directory):
    add_requests(directory, 3, prefix="td", groups=("tech",))
    add_requests(directory, 1)
    body = page(sysadmin, f"{QUEUE}?group=tech")
    forms = {verb: html.unescape(re.search(rf'action="([^"]+/{uid}/{verb}\?[^"]*)"', body).group(1))
             for uid, verb in (("td000", "approve"), ("td001", "reject"))}
    forms["reject-selected"] = html.unescape(re.search(r'formaction="([^"]+)"', body).group(1))
    for verb, data in (("approve", {"groups": ["tech"]}), ("reject", {"reason": REASON}),
                       ("reject-selected", {"uid": "td002", "reason": REASON})):
        response = sysadmin.submit(f"{QUEUE}?group=tech", data, action=forms[verb])
        assert response.status_code == 302
        assert response.location.startswith(f"{QUEUE}?") and "group=tech" in response.location
    assert rows(page(sysadmin, f"{QUEUE}?group=tech")) == []
