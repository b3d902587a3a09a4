"""The stack as an occupation deploys it: site.yml over ssh into a booted Debian 12 host.

Everything goes through what the occupation's people use: the documented command on
the host, the portal's pages through nginx with TLS, the worker, and each service's
own interface (Mailman's REST API on the host, the wiki and Redmine through nginx).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
import yaml

from booted_site import Post
from https_client import Site, django_login, wiki_xmlrpc
from portal_actions import VOLUNTEER_PASSWORD
from portal_browser import PortalBrowser
from portal_browser import approved_volunteer as approved_volunteer_of

# What the roles install and start (systemd units on the host).
UNITS = ("slapd.service", "postfix.service", "nginx.service", "php8.2-fpm.service", "mailman3.service",
         "mailman3-web.service", "postgresql@15-main.service", "redmine.service", "occupy-portal.service",
         "occupy-worker.service", "occupy-purge-expired.timer", "occupy-prune-limits.timer",
         "occupy-backup.timer", "occupy-expire.timer", "occupy-reconcile.timer")
VOLUNTEER = "vera"
VOLUNTEER_MAIL = "vera@example.org"
GROUPS = ["kitchen", "tech"]
# Lists the TCP sockets the host's own processes listen on: the network is this machine's,
# so only the container's processes are named (from its /proc).
LISTENING = r"""
import json, os, re
inodes = {}
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        comm = open(f'/proc/{pid}/comm').read().strip()
        for fd in os.listdir(f'/proc/{pid}/fd'):
            target = os.readlink(f'/proc/{pid}/fd/{fd}')
            if target.startswith('socket:['):
                inodes[target[8:-1]] = comm
    except OSError:
        pass
found = set()
for table in ('/proc/net/tcp', '/proc/net/tcp6'):
    for line in open(table).readlines()[1:]:
        fields = line.split()
        if fields[3] == '0A' and fields[9] in inodes:
            found.add((int(fields[1].rsplit(':', 1)[1], 16), inodes[fields[9]]))
print(json.dumps(sorted(found)))
"""


def test_every_service_the_roles_install_is_running(booted_site):
    states = {unit: booted_site.host.run("systemctl", "is-active", unit).stdout.strip() for unit in UNITS}
    assert states == dict.fromkeys(UNITS, "active")
    failed = booted_site.host.run("systemctl", "list-units", "--failed", "--no-legend", "--plain").stdout
    assert failed.strip() == "", failed


def test_a_second_run_changes_nothing(booted_site):
    _release, first, second = booted_site.runs
    assert first["failed"] == 0 and first["changed"] > 0
    changed = re.findall(r"^TASK \[(.+?)\].*?\n(?:.*\n)*?^changed:", second["log"], re.M)
    assert second["changed"] == 0, f"changed on the second run: {changed}"


def test_site_yml_runs_without_warnings(booted_site):
    for number, run in enumerate(booted_site.runs, start=1):
        warnings = re.findall(r"^\s*\[WARNING\]: (.*)$", run["log"], re.M)
        assert warnings == [], f"run {number} warned: {warnings}"


def test_the_host_listens_only_on_ports_the_inventory_gave(booted_site):
    listed = booted_site.host.run("python3", "-c", LISTENING)
    assert listed.returncode == 0, listed.stderr
    listening = {port: name for port, name in json.loads(listed.stdout)}
    allowed = {booted_site.host.ssh_port, int(booted_site.settings["portal_bind"].rsplit(":", 1)[1]),
               *(int(value) for name, value in booted_site.settings.items() if name.endswith("_port"))}
    assert {port: name for port, name in listening.items() if port not in allowed} == {}


def test_plain_http_redirects_to_https_on_the_inventory_port(booted_site):
    hostname = booted_site.settings["portal_hostname"]
    connection = http.client.HTTPConnection("127.0.0.1", booted_site.port("nginx_http_port"), timeout=10)
    try:
        connection.request("GET", "/register", headers={"Host": hostname})
        answer = connection.getresponse()
    finally:
        connection.close()
    assert answer.status == 301
    assert answer.getheader("Location") == f"https://{hostname}:{booted_site.port('nginx_https_port')}/register"


def test_the_portal_answers_through_nginx_with_tls(booted_site):
    answer = booted_site.site("portal_hostname").get("/healthz")
    assert answer.status == 200, answer.text
    assert answer.headers["Strict-Transport-Security"] is None  # self-signed: no HSTS
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_sysadmin_logs_in_with_two_step_login(booted_site, sysadmin):
    browser = PortalBrowser(booted_site.site("portal_hostname"), sysadmin.authenticator)  # the same app
    answer = browser.enter_password("alice", sysadmin.password)
    assert (answer.status, answer.location) == (302, "/login/code")
    assert browser.get("/admin/requests").status == 302  # the password alone opens nothing
    assert browser.log_in("alice", sysadmin.password).status == 302
    assert browser.get("/admin/requests").status == 200


@pytest.fixture(scope="module")
def approved_volunteer(booted_site, sysadmin, mail_sink):
    """Vera registers on the deployed portal, follows the mailed link, alice approves her, and
    the deployed worker runs the grant: its outcome as the Jobs page shows it."""
    return approved_volunteer_of(booted_site, sysadmin, mail_sink, VOLUNTEER, GROUPS)


def test_the_deployed_worker_provisions_the_approved_volunteer(approved_volunteer):
    assert approved_volunteer["state"] == "succeeded", approved_volunteer
    outcomes = {(result["uid"], result["service"], result["status"])
                for result in approved_volunteer["results"]}
    assert {service for _, service, _ in outcomes} == {"Account check", "Mailing lists", "Wiki", "Redmine"}
    assert {uid for uid, _, _ in outcomes} == {VOLUNTEER}
    assert {status for _, _, status in outcomes} <= {"ok", "changed"}, outcomes


def test_the_volunteer_is_on_the_working_groups_lists(booted_site, approved_volunteer):
    domain = f"lists.{booted_site.settings['occupation_domain']}"
    for slug in GROUPS:
        status, roster = _mailman(booted_site, f"/lists/wg-{slug}.{domain}/roster/member")
        assert status == 200
        assert VOLUNTEER_MAIL in {entry["email"] for entry in roster.get("entries", [])}
    status, roster = _mailman(booted_site, f"/lists/wg-media.{domain}/roster/member")
    assert status == 200 and VOLUNTEER_MAIL not in {entry["email"] for entry in roster.get("entries", [])}


def _mailman(booted_site, path: str) -> tuple[int, dict]:
    return booted_site.mailman("GET", path)


def test_every_working_groups_list_is_closed(booted_site):
    """The list opened before the upgrade is closed again: its archive private, subscriptions
    moderated; and HyperKitty knows every list, as private, before its first post."""
    domain = f"lists.{booted_site.settings['occupation_domain']}"
    anonymous = booted_site.site("lists_hostname")
    for slug in booted_site.settings["working_groups"]:
        status, config = booted_site.mailman("GET", f"/lists/wg-{slug}.{domain}/config")
        assert (status, config.get("archive_policy")) == (200, "private"), slug
        assert config["subscription_policy"] in ("moderate", "confirm_then_moderate"), slug
        assert anonymous.get(f"/hyperkitty/list/wg-{slug}@{domain}/").status == 403, slug


def test_the_volunteer_logs_in_to_the_wiki_and_edits_only_their_groups_namespace(
        booted_site, approved_volunteer):
    wiki = booted_site.site("wiki_hostname")
    login = wiki.get("/doku.php?id=start&do=login")
    sectok = re.search(r'name="sectok" value="([^"]*)"', login.text).group(1)
    answer = wiki.post_form("/doku.php", {"id": "start", "do": "login", "sectok": sectok,
                                         "u": VOLUNTEER, "p": VOLUNTEER_PASSWORD})
    assert answer.status in (200, 302)
    assert "do=logout" in wiki.get("/doku.php?id=start").text, "the wiki's login form refused vera"

    def put_page(page: str, text: str):
        return _xmlrpc(wiki, "wiki.putPage", page, text, {"sum": "deploy test"})

    assert put_page("wg:kitchen:notes", "Bring onions") == (200, True)
    assert _xmlrpc(wiki, "wiki.getPage", "wg:kitchen:notes")[1].strip() == "Bring onions"
    assert put_page("wg:media:notes", "Not mine")[0] == 403
    assert _xmlrpc(wiki, "wiki.getPage", "wg:media:notes")[1] == ""


def _xmlrpc(site, method: str, *params):
    return wiki_xmlrpc(site, VOLUNTEER, VOLUNTEER_PASSWORD, method, *params)


def test_the_volunteer_logs_in_to_redmine_and_is_a_member_of_the_projects(booted_site, approved_volunteer):
    redmine = booted_site.site("redmine_hostname")
    credentials = base64.b64encode(f"{VOLUNTEER}:{VOLUNTEER_PASSWORD}".encode()).decode()
    auth = {"Authorization": f"Basic {credentials}"}
    answer = redmine.get("/users/current.json", headers=auth)
    assert answer.status == 200, answer.status
    assert json.loads(answer.body)["user"]["login"] == VOLUNTEER
    for slug in GROUPS:
        assert redmine.get(f"/projects/wg-{slug}.json", headers=auth).status == 200
    assert redmine.get("/projects/wg-media.json", headers=auth).status in (403, 404)  # private, not hers


def test_the_verification_mail_leaves_through_the_deployed_postfix(
        booted_site, approved_volunteer, mail_sink):
    """The portal sends through Postfix on the host, which relays to the test's sink
    (mail_server_relay_host), as it would to an occupation's provider."""
    config = booted_site.host.run("cat", "/etc/occupy-provisioner/config.py").stdout
    assert f"SMTP_PORT = {booted_site.port('mail_server_port')}" in config
    (message,) = [mail for mail in mail_sink.messages(VOLUNTEER_MAIL)
                  if str(mail["Subject"]).startswith("Confirm your email address")]
    assert any("(Postfix)" in received for received in message.get_all("Received", []))


def test_a_post_to_a_working_groups_list_reaches_the_volunteer(booted_site, approved_volunteer, mail_sink):
    """Mail for the lists domain goes from Postfix on the host to Mailman over LMTP, and
    Mailman's copies leave through Postfix to the sink."""
    domain = f"lists.{booted_site.settings['occupation_domain']}"
    post = EmailMessage()
    post["From"], post["To"] = VOLUNTEER_MAIL, f"wg-kitchen@{domain}"
    post["Subject"] = subject = f"Onions needed {secrets.token_hex(4)}"
    post.set_content("Who brings onions tomorrow?")
    with smtplib.SMTP("127.0.0.1", booted_site.port("mail_server_port"), timeout=30) as smtp:
        smtp.send_message(post)
    deadline = time.monotonic() + 120
    # The list's copy is addressed to the list: vera is its envelope's recipient (X-RcptTo).
    while not (copies := [mail for mail in mail_sink.messages() if subject in str(mail["Subject"])
                          and VOLUNTEER_MAIL in str(mail["X-RcptTo"]).split(", ")]):
        assert time.monotonic() < deadline, "the list's copy of the post never reached vera"
        time.sleep(1)
    (copy,) = copies
    assert f"<wg-kitchen.{domain}>" in str(copy["List-Id"])
    assert any("(Postfix)" in received for received in copy.get_all("Received", []))


def test_the_worker_reaches_each_service_and_only_its_group_reads_the_secrets(booted_site):
    settings = booted_site.host.root / "etc" / "occupy-provisioner"
    worker = yaml.safe_load((settings / "inventory" / "hosts.yml").read_text())["all"]["hosts"]["localhost"]
    assert worker["mailing_lists_url"] == f"http://127.0.0.1:{booted_site.port('mailman_server_rest_port')}"
    assert len(worker["redmine_api_key"]) == 40 and worker["redmine_auth_source_id"] > 0
    modes = booted_site.host.run("stat", "-c", "%U:%G %a", "/etc/occupy-provisioner/config.py",
                                 "/etc/occupy-provisioner/inventory/hosts.yml").stdout.split("\n")
    assert modes[:2] == ["root:occupy-provisioner 640"] * 2


def test_the_inventorys_portal_settings_reach_the_portal(booted_site):
    read = ("from provisioner.config import load_settings; "
            "print(repr(load_settings(environ={'PROVISIONER_CONFIG': "
            "'/etc/occupy-provisioner/config.py'})['REJECTED_RETENTION_DAYS']))")
    answer = booted_site.host.run("/opt/occupy-provisioner/venv/bin/python", "-c", read)
    assert answer.stdout.strip() == "30", answer.stderr


# --- The lists' archives and pages (HyperKitty, Postorius) through nginx ------------------


@dataclass
class ArchivedPost:
    member: Site        # the lists' site, logged in as the list's member who posted
    post: Post


@pytest.fixture(scope="module")
def archived(booted_site) -> ArchivedPost:
    """uma (media, approved before the upgrade) posts to wg-media through the host's Postfix,
    logs in to the lists' site with her portal password and finds the post in the archive."""
    early = booted_site.before_upgrade
    post = booted_site.post_to_list(early.volunteer, early.groups[0], "Leaflets for Saturday")
    member = booted_site.site("lists_hostname")
    login = django_login(member, early.volunteer, VOLUNTEER_PASSWORD)
    assert login.status == 302, f"the lists' site refused {early.volunteer}'s password: {login.text[-1500:]}"
    post.read_once_archived(member)
    return ArchivedPost(member, post)


def test_a_member_reads_her_groups_archive_with_her_portal_password(archived):
    message = archived.member.get(archived.post.message_page)
    assert message.status == 200 and archived.post.text in message.text
    listing = archived.member.get(archived.post.list_page)
    assert listing.status == 200, listing.status


def test_an_anonymous_visitor_gets_no_archive_page_and_no_post(booted_site, archived):
    _assert_closed(booted_site.site("lists_hostname"), archived.post)


def test_a_logged_in_non_member_gets_no_archive_page_and_no_post(booted_site, approved_volunteer, archived):
    non_member = booted_site.site("lists_hostname")  # vera: kitchen and tech, not media
    assert django_login(non_member, VOLUNTEER, VOLUNTEER_PASSWORD).status == 302
    _assert_closed(non_member, archived.post)


def _assert_closed(visitor: Site, posted: Post) -> None:
    for page in (posted.list_page, posted.message_page, posted.api_page):
        answer = visitor.get(page)
        assert answer.status == 403, (page, answer.status)
        assert posted.text not in answer.text, page


def test_a_wrong_password_opens_nothing(booted_site, archived):
    guesser = booted_site.site("lists_hostname")
    answer = django_login(guesser, booted_site.before_upgrade.volunteer, "not her password")
    assert answer.status == 200  # the form again
    assert guesser.get(archived.post.list_page).status == 403


def test_nobody_signs_up_on_the_lists_site(booted_site):
    """Accounts come from the directory only: no form takes a new password."""
    answer = booted_site.site("lists_hostname").get("/accounts/signup/")
    assert 'name="password1"' not in answer.text


def test_hyperkittys_apis_are_closed_through_nginx(booted_site, archived):
    """Its REST API shows a private list's posts to anyone who names them, and its archiving
    API trusts loopback, where every request through nginx comes from: nginx closes both
    (Mailman reaches the archiving API on uwsgi's loopback socket, as the archived post shows)."""
    answer = archived.member.get(archived.post.api_page)
    assert answer.status == 403 and archived.post.text not in answer.text
    assert booted_site.site("lists_hostname").get("/hyperkitty/api/mailman/urls").status == 403


def test_the_account_page_leads_to_her_groups_archives_wiki_and_projects(booted_site, approved_volunteer):
    """The deployed portal links each of vera's groups at the addresses site.yml gave it; the
    archive's link (through the lists' login page) takes her portal password and leads her in."""
    portal = PortalBrowser(booted_site.site("portal_hostname"))
    assert portal.log_in(VOLUNTEER, VOLUNTEER_PASSWORD).status == 302
    page = portal.get("/account")
    assert page.status == 200, page.status
    links = set(re.findall(r'href="(https://[^"]+)"', page.text))
    lists, domain = booted_site.site("lists_hostname"), f"lists.{booted_site.settings['occupation_domain']}"
    wiki, redmine = booted_site.site("wiki_hostname").base, booted_site.site("redmine_hostname").base
    for slug in GROUPS:
        archive = f"/hyperkitty/list/wg-{slug}@{domain}/"
        assert {f"{lists.base}/accounts/login/?next={archive}", f"{wiki}/doku.php?id=wg:{slug}:start",
                f"{redmine}/projects/wg-{slug}"} <= links, (slug, sorted(links))
    answer = django_login(lists, VOLUNTEER, VOLUNTEER_PASSWORD, form=f"/accounts/login/?next={archive}")
    assert (answer.status, answer.location) == (302, archive)
    assert lists.get(archive).status == 200


def test_the_lists_site_serves_its_static_files(booted_site):
    answer = booted_site.site("lists_hostname").get("/mailman3/static/postorius/img/favicon.ico")
    assert answer.status == 200 and answer.body
