"""A volunteer's whole way in, in a real browser: register, confirm, approval, first login;
once with JavaScript and once without. With it, every page of the way, and the sysadmin's
pages the approval touches, passes accessibility.py's checks."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Page, expect

from accessibility import PageChecks, assert_errors_tied_to_fields, assert_focus_visible

VOLUNTEER = {"uid": "vera", "name": "Vera Volunteer", "mail": "vera@example.org",
             "password": "plum tuesday lantern orbit"}
REGISTRATION_FIELDS_REQUIRED = 6  # username, name, email, both passwords, time


class NoChecks:
    """Without JavaScript axe-core cannot run: the journey itself is the test."""

    def check(self) -> None:
        pass


def log_in(page: Page, uid: str, password: str) -> None:
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill(uid)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


# The portal's Content-Security-Policy refuses inline scripts, axe-core's injection among them.
@pytest.mark.parametrize("context_options", [{"bypass_csp": True}, {"java_script_enabled": False}],
                         ids=["javascript", "no-javascript"])
def test_a_volunteer_registers_is_approved_and_logs_in(live_portal, page, inbox, context_options):
    uid, mail, password = VOLUNTEER["uid"], VOLUNTEER["mail"], VOLUNTEER["password"]
    javascript = context_options.get("java_script_enabled", True)
    pages = PageChecks(page) if javascript else NoChecks()
    page.goto(live_portal.url)
    assert_focus_visible(page)
    pages.check()
    page.get_by_role("link", name="Register as a volunteer").click()
    pages.check()
    page.get_by_role("button", name="Register").click()
    if javascript:
        assert_errors_tied_to_fields(page, REGISTRATION_FIELDS_REQUIRED)
    pages.check()
    page.get_by_label("Username").fill(uid)
    page.get_by_label("Your name, as others will see it").fill(VOLUNTEER["name"])
    page.get_by_label("Email").fill(mail)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_label("Kitchen", exact=True).check()
    page.get_by_label("Tech", exact=True).check()
    page.get_by_label("Skills").fill("cooking, first aid")
    page.get_by_label("A day", exact=True).check()
    page.get_by_label("A note for the sysadmins").fill("Free on weekends")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    pages.check()

    page.goto(inbox.link_in(mail))
    pages.check()
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", name="your address is confirmed")).to_be_visible()
    pages.check()

    sysadmin = live_portal.sysadmin
    log_in(page, sysadmin.uid, sysadmin.password)
    # Sysadmins must use two-step login: the first login leads to its set-up.
    expect(page.get_by_role("heading", name="Set up two-step login")).to_be_visible()
    pages.check()
    expect(page.get_by_role("img", name="QR code holding the key shown below")).to_be_visible()
    key = page.locator("#totp-key").inner_text().replace(" ", "")
    page.get_by_label("Code").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Two-step login is on")).to_be_visible()
    expect(page.locator("ol.recovery-codes li")).to_have_count(10)
    pages.check()
    page.get_by_role("link", name="I have kept my recovery codes: continue").click()
    pages.check()
    page.get_by_role("link", name="Requests", exact=True).click()
    request = page.locator(f"#request-{uid}")  # one row; its details open on demand
    request.locator("summary").click()
    pages.check()
    expect(request).to_contain_text(mail)
    expect(request.get_by_label("Kitchen", exact=True)).to_be_checked()
    expect(request.get_by_label("Tech", exact=True)).to_be_checked()
    request.get_by_role("button", name=f"Approve {uid}").click()
    expect(page.get_by_role("status")).to_have_text(f"{uid} is approved.")
    expect(page.locator("tr[id^=request-]")).to_have_count(0)
    pages.check()

    # The sysadmin's pages about what the approval did: each passes the checks.
    page.get_by_role("link", name="Jobs", exact=True).click()
    pages.check()
    page.get_by_role("link", name="#1").click()
    expect(page.locator("#job-state")).to_have_attribute("aria-live", "polite")
    pages.check()
    for name in ("Dashboard", "Coordinators", "Audit log"):
        page.get_by_role("link", name=name, exact=True).click()
        pages.check()
    page.get_by_role("link", name="My account").click()
    page.get_by_role("link", name="Two-step login").click()
    pages.check()

    page.get_by_role("button", name=f"Log out {sysadmin.uid}").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    log_in(page, uid, password)
    expect(page.get_by_role("heading", name=VOLUNTEER["name"])).to_be_visible()
    pages.check()
    groups = page.get_by_role("list").filter(has_text="Kitchen").get_by_role("listitem")
    expect(groups).to_have_text(["Kitchen", "Tech"])
    expect(page.get_by_role("table")).to_contain_text("Access is being set up")

    # The sysadmin's second login asks for the code, on a page of its own title.
    page.get_by_role("button", name=f"Log out {uid}").click()
    log_in(page, sysadmin.uid, sysadmin.password)
    expect(page.get_by_role("heading", name="Two-step login")).to_be_visible()
    pages.check()
    if isinstance(pages, PageChecks):
        pages.assert_titles_distinct()

    welcome = [m for m in inbox.messages(mail) if m["Subject"].startswith("Welcome")]
    assert len(welcome) == 1, [m["Subject"] for m in inbox.messages(mail)]
    assert f'your account "{uid}" is ready' in welcome[0].get_content()
