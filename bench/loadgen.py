"""A small HTTP load generator, run as a process of its own so it does not share the portal's CPU time
slices with the benchmark that starts it.

It reads a plan as JSON on stdin (stdin, because a plan may carry session cookies) and
writes the measurements as JSON on stdout:

    {"port": 8000, "seconds": 30,
     "clients": [{"cookies": {}, "token_page": "/register", "take_cookies": true,
                  "requests": [{"method": "POST", "path": "/register", "form": {...}, "expect": 302}]}]}

Each client is a thread with its own keep-alive connection, cookie jar and CSRF token (read,
untimed, from `token_page` before the start). All clients start together and each sends its
requests one after the other until its list ends or `seconds` have passed, whichever is first.
A client that must not take the cookies the server sets in its timed requests
(`take_cookies: false`) keeps the session it had when they started.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import time
from urllib.parse import urlencode

CSRF_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
HOST = "127.0.0.1"


class Browser:
    """One visitor: a keep-alive connection, a cookie jar and the CSRF token of the last form read."""

    def __init__(self, port: int, cookies: dict[str, str] | None = None, take_cookies: bool = True):
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)
        self.cookies = dict(cookies or {})
        self.take_cookies = take_cookies
        self.token: str | None = None

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        headers = {"Host": f"{HOST}:{self.connection.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode({**form, **({"csrf_token": self.token} if self.token else {})}, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode(errors="replace")
        if self.take_cookies:
            for header in response.msg.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0].strip()
        return response.status, text

    def read_token(self, page: str) -> None:
        status, text = self.request("GET", page)
        match = CSRF_TOKEN.search(text)
        if match is None:
            raise RuntimeError(f"no CSRF token on {page} (HTTP {status})")
        self.token = match.group(1)

    def close(self) -> None:
        self.connection.close()


class Window:
    """When the timed requests began and until when they may be sent."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.began = self.deadline = 0.0

    def open(self) -> None:
        self.began = time.perf_counter()
        self.deadline = self.began + self.seconds


class Client(threading.Thread):
    def __init__(self, port: int, plan: dict, start: threading.Barrier, window: Window):
        super().__init__(daemon=True)
        self.browser = Browser(port, plan.get("cookies"))
        self.plan, self.start_together, self.window = plan, start, window
        self.latencies: list[float] = []
        self.unexpected: list[str] = []
        self.finished = 0.0

    def run(self) -> None:
        try:
            self.send_all()
        except Exception as error:      # reported with the results: a thread's own would be lost
            self.unexpected.append(f"{type(error).__name__}: {error}")
        finally:
            self.browser.close()

    def send_all(self) -> None:
        try:
            if self.plan.get("token_page"):
                self.browser.read_token(self.plan["token_page"])
        finally:
            self.start_together.wait()
        self.browser.take_cookies = self.plan.get("take_cookies", True)
        for step in self.plan["requests"]:
            if time.perf_counter() >= self.window.deadline:
                break
            started = time.perf_counter()
            status, _ = self.browser.request(step["method"], step["path"], step.get("form"))
            self.finished = time.perf_counter()
            self.latencies.append(1000 * (self.finished - started))
            if status != step.get("expect", 200):
                self.unexpected.append(f"{step['method']} {step['path']}: HTTP {status}")


def run(plan: dict) -> dict:
    window = Window(plan["seconds"])
    start = threading.Barrier(len(plan["clients"]), action=window.open)    # before any client goes on
    clients = [Client(plan["port"], client, start, window) for client in plan["clients"]]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    ended = max([client.finished for client in clients] + [window.began])
    return {"seconds": ended - window.began,
            "latencies_ms": [latency for client in clients for latency in client.latencies],
            "unexpected": [problem for client in clients for problem in client.unexpected]}


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
