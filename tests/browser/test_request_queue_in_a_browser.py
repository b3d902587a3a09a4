"""The approval queue in a real browser, with no script of ours: filter, select all shown,
reject the selected with one reason, approve the rest (issue 16)."""

from __future__ import annotations

from playwright.sync_api import expect

from provisioner.directory import NewPerson, Status

from portal_actions import authenticator_code, given_totp

REASON = "We only take people we have met at the assembly."


def add_requests(directory, count: int, *, prefix: str = "req", groups=("kitchen",)) -> list[str]:
    uids = [f"{prefix}{number:03d}" for number in range(count)]
    for uid in uids:
        directory.people.add(NewPerson(uid=uid, display_name=uid.title(), mail=f"{uid}@example.org",
                                       status=Status.VERIFIED, requested_groups=tuple(groups)))
    return uids


def test_a_sysadmin_filters_selects_all_shown_and_rejects_them_in_one_go(live_portal, page, inbox,
                                                                       directory):
    kitchen = add_requests(directory, 3)
    add_requests(directory, 2, prefix="td", groups=("tech",))
    sysadmin = live_portal.sysadmin
    given_totp(live_portal.app, sysadmin.uid)
    page.goto(live_portal.url)
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill(sysadmin.uid)
    page.get_by_label("Password", exact=True).fill(sysadmin.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(authenticator_code(live_portal.app, sysadmin.uid))
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Requests", exact=True).click()
    page.get_by_label("Working group").select_option("kitchen")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tr[id^=request-]")
    expect(rows).to_have_count(3)
    page.get_by_role("link", name="Select all shown").click()
    for uid in kitchen:
        expect(page.get_by_label(uid, exact=True)).to_be_checked()
    expect(page.get_by_label("Working group")).to_have_value("kitchen")

    reason = page.get_by_label("Reason for rejecting the selected")
    page.get_by_role("button", name="Reject selected").click()  # no reason: the browser asks
    assert reason.evaluate("field => field.validity.valueMissing")
    expect(rows).to_have_count(3)
    reason.fill(REASON)
    page.get_by_role("button", name="Reject selected").click()
    expect(page.get_by_role("status")).to_have_text(
        "3 rejected, each told why by mail: req000, req001, req002.")
    expect(rows).to_have_count(0)
    assert "group=kitchen" in page.url
    for uid in kitchen:
        assert REASON in inbox.only_message(f"{uid}@example.org").get_content()
    page.get_by_label("Working group").select_option("")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)

    # Approving needs no reason: the empty reason field does not hold the form back.
    page.get_by_role("link", name="Select all shown").click()
    page.get_by_role("button", name="Approve selected, into the groups they asked for").click()
    expect(page.get_by_role("status")).to_have_text(["td000 is approved.", "td001 is approved."])
    expect(rows).to_have_count(0)
