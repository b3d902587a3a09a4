"""A volunteer's first step, in a real browser: from the account page to their group's archive."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from provisioner.directory import NewPerson, Status

from job_helpers import make_worker, queue
from list_pages import post
from service_fixtures import LIST_DOMAIN, offer

PASSWORD = "lentil soup for every assembly"


@pytest.fixture
def portal_settings(mailman_web) -> dict:
    return {"LIST_DOMAIN": LIST_DOMAIN, "ARCHIVES_URL": mailman_web.url}


def test_the_account_pages_archive_link_leads_a_member_to_the_groups_posts(
        live_portal, page: Page, directory, mailman, mailman_web, tmp_path):
    uid = f"way{uuid.uuid4().hex[:6]}"
    directory.people.add(NewPerson(uid=uid, display_name="Wanda Way", mail=f"{uid}@example.org",
                                   status=Status.ACTIVE), pending=False)
    directory.people.set_password(uid, PASSWORD)
    directory.groups.add_member("wg-kitchen", uid)
    app = offer(live_portal.app, tmp_path / "inventory", mailman)
    queue(app, "grant", {uid: ["kitchen"]})
    assert make_worker(app, directory).run_once() == 1       # the worker subscribes her
    subject = f"Soup rota {uid}"
    post(mailman, f"wg-kitchen@{LIST_DOMAIN}", f"{uid}@example.org", subject, "Lentils on Friday.",
         f"<{uid}@example.org>")

    page.goto(live_portal.url)
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill(uid)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    kitchen = page.locator("ul.working-groups > li").filter(has_text="Kitchen")
    kitchen.get_by_role("link", name="Read the list's archive").click()
    # HyperKitty's own login, with the same password; then straight on to the archive.
    page.get_by_placeholder("Username").fill(uid)
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(f"{mailman_web.url}/hyperkitty/list/wg-kitchen@{LIST_DOMAIN}/")
    # Archiving runs behind Mailman's queue: the post shows within seconds.
    for _attempt in range(30):
        if page.get_by_text(subject).count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(page.get_by_text(subject).first).to_be_visible()
