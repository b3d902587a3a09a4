"""An account past its end date loses the lists, the wiki and Redmine; its renewal by a
coordinator brings them back. On the real Mailman, DokuWiki and Redmine."""

from __future__ import annotations

from datetime import timedelta

from end_date_helpers import coordinator, flashed

from provisioner.cli import cli
from provisioner.clock import utc_now
from provisioner.directory import Status
from provisioner.resources import get_store
from provisioner.store import jobs

from job_helpers import make_worker
from portal_actions import VOLUNTEER_PASSWORD, Visitor
from service_fixtures import offer
from service_views import assert_access, log_in

TODAY = utc_now().date()


def latest_job(app, uid="vera") -> jobs.Job:
    with app.app_context(), get_store().begin() as connection:
        return jobs.latest_for(connection, uid)


def test_an_account_past_its_end_date_loses_every_service_and_renewal_brings_them_back(
        app, sysadmin, visitor, inbox, directory, mailman, wiki, redmine, tmp_path):
    offer(app, tmp_path / "inventory", mailman, wiki, redmine)
    visitor.register(groups=["kitchen", "tech"])
    visitor.confirm(inbox.link_in("vera@example.org"))
    sysadmin.approve("vera", ["kitchen", "tech"])
    worker = make_worker(app, directory)
    assert worker.run_once() == 1 and latest_job(app).state == "succeeded"
    assert log_in(redmine, "vera", VOLUNTEER_PASSWORD) == 200
    cora = coordinator(app, directory)

    directory.people.set_end_date("vera", TODAY - timedelta(days=1))   # yesterday was her last day
    inbox.clear()
    assert app.test_cli_runner().invoke(cli, ["expire"]).exit_code == 0
    assert worker.run_once() == 1
    revoke = latest_job(app)
    assert (revoke.kind, revoke.state) == ("revoke", "succeeded"), revoke.error
    assert_access(mailman, redmine, wiki, "vera", VOLUNTEER_PASSWORD, name="Vera Volunteer", held=False)
    assert Visitor(app.test_client()).log_in("vera", VOLUNTEER_PASSWORD).status_code == 401

    link = inbox.link_in("vera@example.org").removeprefix("http://localhost")
    Visitor(app.test_client()).submit(link, {"note": "Staying for the winter"})
    assert len(inbox.messages("cora0000@example.org")) == 1
    page = cora.client.get("/groups/requests").get_data(as_text=True)
    request_id = int(page.split('id="renewal-request-')[1].split('"')[0])
    until = (TODAY + timedelta(days=30)).isoformat()
    renewed = cora.submit("/groups/requests", {"end_date": until},
                          action=f"/groups/renewals/{request_id}/renew")
    assert f"until {until}" in flashed(cora, renewed)
    assert directory.people.get("vera").status == Status.ACTIVE

    assert worker.run_once() == 1
    grant = latest_job(app)
    assert (grant.kind, grant.state) == ("grant", "succeeded"), grant.error
    assert_access(mailman, redmine, wiki, "vera", VOLUNTEER_PASSWORD, name="Vera Volunteer", held=True)
    assert Visitor(app.test_client()).log_in("vera", VOLUNTEER_PASSWORD).status_code == 302
