"""A load check, not a timed test: fifty people register the same username at once."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from werkzeug.serving import make_server

from provisioner import create_app
from provisioner.private_services.process import free_port

from ldap_helpers import root_connection
from portal_actions import CSRF_TOKEN, registration
from suite_config import app_config

PEOPLE = 50


@pytest.fixture
def live_url(directory, slapd_server, inbox, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app({**app_config(slapd_server, f"sqlite:///{tmp_path / 'store.sqlite'}", inbox.port),
                      "PUBLIC_URL": url,
                      "REGISTRATIONS_PER_ADDRESS_PER_HOUR": PEOPLE})  # all fifty come from 127.0.0.1
    inbox.deliver_from(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def register_as(url: str, number: int, answers: list, ready: threading.Barrier) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                         NoRedirect)
    page = opener.open(f"{url}/register", timeout=60).read().decode()
    form = registration(mail=f"person{number}@example.org", display_name=f"Person {number}")
    form["csrf_token"] = CSRF_TOKEN.search(page).group(1)
    body = urllib.parse.urlencode(form, doseq=True).encode()
    ready.wait(timeout=60)
    try:
        response = opener.open(f"{url}/register", data=body, timeout=60)
        answers.append((response.status, response.headers.get("Location")))
    except urllib.error.HTTPError as answered:
        answers.append((answered.code, answered.headers.get("Location")))


def test_fifty_registrations_of_one_username_make_one_pending_entry(live_url, slapd_server, inbox):
    answers: list = []
    ready = threading.Barrier(PEOPLE)
    threads = [threading.Thread(target=register_as, args=(live_url, n, answers, ready))
               for n in range(PEOPLE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == PEOPLE
    assert set(answers) == {(302, "/register/sent")}
    with root_connection(slapd_server) as conn:
        conn.search(slapd_server.base_dn, "(uid=vera)", attributes=["mail"])
        entries = list(conn.response)
    assert len(entries) == 1
    assert re.fullmatch(r"person\d+@example\.org", str(entries[0]["attributes"]["mail"][0]))
    verify_mails = [m for m in inbox.messages() if "Confirm your email" in m["Subject"]]
    assert len(verify_mails) == 1
