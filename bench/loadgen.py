"""A small HTTP load generator, run as a process of its own so it does not share the portal's CPU time
slices with the benchmark that starts it.

It reads a plan as JSON on stdin (stdin, because a plan may carry session cookies) and
writes the measurements as JSON on stdout:

    {"port": 8000, "seconds": 30,
     "clients": [{"cookies": {}, "token_page": "/register", "take_cookies": true,
                  "requests": [{"method": "POST", "path": "/register", "form": {...}, "expect": 302}]}]}

Each client is a thread with its own keep-alive connection, cookie jar and CSRF token (read,
untimed, from `token_page` before the start). A client that must not take the cookies the
server sets in its timed requests (`take_cookies: false`) keeps the session it had when they
started. A request may name the `location` its redirect must end with.

Closed loop (no `rate`): all clients start together and each sends its requests one after
the other until its list ends or `seconds` have passed, whichever is first.

Open loop (`"rate": R`): requests are due at a fixed rate, R a second for `seconds`,
whether or not earlier ones were answered; each due request goes to the first idle
client, which sends its next one (its list cycled, `{n}` in a form value replaced by a
number new for each request) and its latency counts from when it was due, so time spent
waiting for an idle client (queueing) counts too.
"""

from __future__ import annotations

import http.client
import itertools
import json
import queue
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
        self.location: str | None = None

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        try:
            return self._request(method, path, form)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed the idle keep-alive connection before this request reached it
            # (gunicorn keeps one for 2 s); send it again on a new one.
            self.connection.close()
            return self._request(method, path, form)

    def _request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
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
        self.location = response.getheader("Location")
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
    def __init__(self, port: int, plan: dict, start: threading.Barrier, window: Window,
                 due: queue.Queue[float | None] | None = None):
        super().__init__(daemon=True)
        self.browser = Browser(port, plan.get("cookies"))
        self.plan, self.start_together, self.window, self.due = plan, start, window, due
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
        if self.due is None:
            for step in self.plan["requests"]:
                if time.perf_counter() >= self.window.deadline:
                    break
                self.send(step, time.perf_counter())
            return
        steps, numbers = itertools.cycle(self.plan["requests"]), itertools.count()
        while (due := self.due.get()) is not None:
            self.send(numbered(next(steps), next(numbers)), due)

    def send(self, step: dict, counted_from: float) -> None:
        status, _ = self.browser.request(step["method"], step["path"], step.get("form"))
        self.finished = time.perf_counter()
        self.latencies.append(1000 * (self.finished - counted_from))
        if status != step.get("expect", 200):
            self.unexpected.append(f"{step['method']} {step['path']}: HTTP {status}")
        elif step.get("location") and not (self.browser.location or "").endswith(step["location"]):
            self.unexpected.append(f"{step['method']} {step['path']}: to {self.browser.location}")


def numbered(step: dict, number: int) -> dict:
    """The step with `{n}` in its form values replaced by `number`."""
    if "form" not in step:
        return step
    form = {name: value.replace("{n}", str(number)) if isinstance(value, str) else value
            for name, value in step["form"].items()}
    return {**step, "form": form}


def arrive(rate: float, window: Window, due: queue.Queue[float | None], clients: int) -> None:
    """Make requests due at `rate` a second from the start until the window ends, then stop the clients."""
    for number in itertools.count():
        at = window.began + number / rate
        if at >= window.deadline:
            break
        time.sleep(max(0.0, at - time.perf_counter()))
        due.put(at)
    for _ in range(clients):
        due.put(None)


def run(plan: dict) -> dict:
    window = Window(plan["seconds"])
    start = threading.Barrier(len(plan["clients"]) + 1, action=window.open)    # before any client goes on
    due: queue.Queue[float | None] | None = queue.Queue() if plan.get("rate") else None
    clients = [Client(plan["port"], client, start, window, due) for client in plan["clients"]]
    for client in clients:
        client.start()
    start.wait()
    if due is not None:
        arrive(plan["rate"], window, due, len(clients))
    for client in clients:
        client.join()
    ended = max([client.finished for client in clients] + [window.began])
    return {"seconds": ended - window.began,
            "latencies_ms": [latency for client in clients for latency in client.latencies],
            "unexpected": [problem for client in clients for problem in client.unexpected]}


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
