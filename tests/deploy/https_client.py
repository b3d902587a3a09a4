"""HTTPS to a deployed site by its public name, on this machine's loopback.

The name (Host header and SNI) is the site's own, the certificate is checked against
the one the host serves (nginx's self-signed ones, read from the deployed root), but
the connection goes to 127.0.0.1 on the port the test gave nginx: DNS as an occupation
would set it up, without touching this machine's resolver. Redirects are answers,
not followed, so that tests see where they lead.
"""

from __future__ import annotations

import base64
import http.client
import http.cookiejar
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


class _LoopbackHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port=None, **kwargs):
        super().__init__(host, port, **kwargs)
        self._create_connection = self._to_loopback

    @staticmethod
    def _to_loopback(address, *args, **kwargs):
        return socket.create_connection(("127.0.0.1", address[1]), *args, **kwargs)


class _LoopbackHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, request):
        return self.do_open(_LoopbackHTTPSConnection, request, context=self._context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Site:
    """One client (its own cookies) of https://NAME:PORT, trusting only the given certificates."""

    def __init__(self, hostname: str, port: int, ca_files: list[Path]):
        self.base = f"https://{hostname}:{port}" if port != 443 else f"https://{hostname}"
        context = ssl.create_default_context(cafile=None)
        context.load_verify_locations(cadata="".join(path.read_text() for path in ca_files))
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            _LoopbackHTTPSHandler(context=context), _NoRedirects(),
            urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 60) -> Answer:
        request = urllib.request.Request(  # noqa: S310 (self.base is https://)
            self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self._opener.open(request, timeout=timeout) as answer:
                return Answer(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, error.headers, error.read())

    def get(self, path: str, headers: dict | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post_form(self, path: str, data: dict, headers: dict | None = None) -> Answer:
        body = urllib.parse.urlencode(data, doseq=True).encode()
        return self.request("POST", path, body,
                            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})


def wiki_xmlrpc(site: Site, user: str, password: str, method: str, *params):
    """An XML-RPC call to a deployed wiki as `user` (basic auth, as its remote API takes it):
    (HTTP status, result), the result None unless the status is 200."""
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    answer = site.request("POST", "/lib/exe/xmlrpc.php", xmlrpc.client.dumps(params, method).encode(),
                          {"Content-Type": "text/xml", "Authorization": f"Basic {credentials}"})
    if answer.status != 200:
        return answer.status, None
    (result,), _ = xmlrpc.client.loads(answer.body)
    return answer.status, result


DJANGO_CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def django_login(site: Site, user: str, password: str, form: str = "/accounts/login/") -> Answer:
    """Log in to a deployed Django site (HyperKitty and Postorius) through its login form (at
    `form`, which may carry ?next=), as a browser would: a redirect when it took the password."""
    page = site.get(form)
    match = DJANGO_CSRF_TOKEN.search(page.text)
    assert match, f"no login form at {form} (HTTP {page.status})"
    return site.post_form(form, {"login": user, "password": password, "csrfmiddlewaretoken": match.group(1)},
                          headers={"Referer": site.base + form})
