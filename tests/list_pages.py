"""People using Mailman's web parts (HyperKitty, Postorius) as a browser does: forms with their CSRF
token, a cookie jar, one connection per request (uwsgi's http-socket does not keep them alive)."""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import re
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from provisioner.private_services.mailman import PrivateMailman
from provisioner.private_services.mailman_web import PrivateMailmanWeb

CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class Page:
    status: int
    body: bytes
    location: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def shows(self, words: str) -> bool:
        return words in self.text


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Answers as they come: a test sees the 302 to the login page, not the login page."""

    def redirect_request(self, *args, **kwargs):
        return None


class ListBrowser:
    """One person's browser on the web parts; anonymous until `log_in`."""

    def __init__(self, web: PrivateMailmanWeb):
        self.web = web
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies),
                                                  _KeepRedirects)

    def open(self, path: str, form: dict[str, str] | None = None) -> Page:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.web.url + path, data=data)  # noqa: S310 (http on loopback)
        try:
            with self.opener.open(request, timeout=60) as response:
                return Page(response.status, response.read())
        except urllib.error.HTTPError as answer:
            with answer:
                return Page(answer.code, answer.read(), answer.headers.get("Location"))

    def submit(self, page: str, form: dict[str, str], action: str | None = None) -> Page:
        """Open `page`, then post its form (to `action` if the form posts elsewhere)."""
        match = CSRF_TOKEN.search(self.open(page).text)
        assert match, f"no CSRF token on {page}"
        return self.open(action or page, {**form, "csrfmiddlewaretoken": match.group(1)})

    def log_in(self, uid: str, password: str) -> Page:
        return self.submit("/accounts/login/", {"login": uid, "password": password})

    @property
    def logged_in(self) -> bool:
        return any(cookie.name == "sessionid" for cookie in self.cookies)

    def sign_up(self, username: str, mail: str, password: str) -> Page:
        """Post allauth's sign-up form as an attacker would, whatever the page there shows:
        with a valid CSRF token (from the login page)."""
        match = CSRF_TOKEN.search(self.open("/accounts/login/").text)
        assert match, "no CSRF token on the login page"
        return self.open("/accounts/signup/", {"username": username, "email": mail, "password1": password,
                                               "password2": password, "csrfmiddlewaretoken": match.group(1)})


def archive_path(list_address: str, page: str = "") -> str:
    return f"/hyperkitty/list/{list_address}/{page}"


def message_hash(message_id: str) -> str:
    """HyperKitty's name for a message (and for the thread it starts) in its URLs."""
    digest = hashlib.sha1(message_id.strip("<>").encode(), usedforsecurity=False).digest()
    return base64.b32encode(digest).decode()


def post(mailman: PrivateMailman, list_address: str, sender: str, subject: str, body: str,
         message_id: str) -> None:
    """Hand a post to Mailman over LMTP, as Postfix does."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, list_address, subject
    message["Message-ID"] = message_id
    message.set_content(body)
    assert mailman.lmtp_port, "this Mailman takes no mail: start it with an archiver"
    with smtplib.LMTP("127.0.0.1", mailman.lmtp_port) as lmtp:
        refused = lmtp.send_message(message, from_addr=sender, to_addrs=[list_address])
    assert refused == {}, refused
