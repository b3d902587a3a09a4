"""An invitation in a real browser: a sysadmin invites, the invited person follows the mail's
link, chooses a username and password, and once the worker has run is on the group's list."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pyotp
from playwright.sync_api import Page, expect

from job_helpers import make_worker
from service_fixtures import offer
from service_views import roster

PASSWORD = "juniper lantern under the bridge"


def test_an_invitation_leads_from_the_mail_to_a_provisioned_account(live_portal, page: Page, inbox,
                                                                   directory, mailman, tmp_path):
    uid = f"inv{uuid.uuid4().hex[:6]}"   # Mailman's lists persist across tests
    mail = f"{uid}@example.org"
    until = (date.today() + timedelta(days=20)).isoformat()
    sysadmin = live_portal.sysadmin
    page.goto(live_portal.url)
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill(sysadmin.uid)
    page.get_by_label("Password", exact=True).fill(sysadmin.password)
    page.get_by_role("button", name="Log in").click()
    # Sysadmins must use two-step login: the first login leads to its set-up.
    key = page.locator("#totp-key").inner_text().replace(" ", "")
    page.get_by_label("Code").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name="I have kept my recovery codes: continue").click()

    page.get_by_role("link", name="Invitations").click()
    page.get_by_label("Email").fill(mail)
    page.get_by_label("Their name").fill("Ines Invited")
    page.get_by_label("Kitchen", exact=True).check()
    page.get_by_label("Last day of the account").fill(until)
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("status")).to_contain_text(f"is sent to {mail}")
    expect(page.locator("tbody tr").first).to_contain_text("open until")
    page.get_by_role("button", name=f"Log out {sysadmin.uid}").click()

    link = inbox.link_in(mail)
    page.goto(link)
    expect(page.locator("#invited-address")).to_have_text(mail)
    expect(page.get_by_label("Email")).to_have_count(0)      # the address is not a field
    expect(page.get_by_label("Your name, as others will see it")).to_have_value("Ines Invited")
    page.get_by_label("Username").fill(uid)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("status")).to_have_text(f"Your account {uid} is ready: log in with it.")

    app = offer(live_portal.app, tmp_path / "inventory", mailman)
    assert make_worker(app, directory).run_once() == 1       # the grant the acceptance queued
    assert mail in roster(mailman, "kitchen")

    page.get_by_label("Username").fill(uid)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Ines Invited")).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("Mailing lists")
    assert directory.people.get(uid).end_date == date.fromisoformat(until)

    page.goto(link)                                           # the link works once
    expect(page.get_by_role("alert")).to_contain_text(f"the account {uid} was made with it")
