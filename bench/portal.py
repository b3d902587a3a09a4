"""The portal under load: requests/s and p50/p95 latency, gunicorn with 2 workers on loopback.

The portal runs as it is served in production (`gunicorn -w 2 app:app`, sync workers),
configured by PROVISIONER_* variables, over a private slapd (`dbnosync`), an SQLite
store and an SMTP sink on loopback that accepts every mail and keeps none. The load
comes from bench/loadgen.py in a process of its own; each client keeps its own
cookies and CSRF token. Three pages:

- login page: GET /login, 20 clients;
- registration: POST /register with a new volunteer each time, 20 clients (the
  issue's target: p95 under 100 ms); the portal hashes the password (argon2, in
  slapd), stores the request and mails a verification link. Clients send their next
  request as soon as the last is answered, so at saturation latency is mostly queueing
  (clients / throughput): "registration alone", one client, gives the time of one;
- approval: POST /admin/requests/<uid>/approve of a verified request, 4 clients, each a
  sysadmin logged in with password and TOTP code; the portal moves the entry, adds the
  groups, queues the provisioning job and mails a welcome.

Each is bounded by a request count and a time; each run's p50, p95 and requests/s go
into a median with min and max. After the runs, the peak resident memory (VmHWM) of
the gunicorn master and its workers.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pyotp
from bench_stack import BENCH, CHECKOUT, app_config, bench_stack
from figures import Row, Spread
from loadgen import Browser
from processes import environment_for, peak_rss_mb

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.directory import NewPerson, Status
from provisioner.private_services.process import OwnedProcess, free_port
from provisioner.resources import get_catalogue, get_directory, get_portal
from provisioner.workflow import confirm_enrolment, create_sysadmin, initialise_directory, new_secret

LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
GROUPS = ["kitchen", "tech"]
VOLUNTEER_PASSWORD = secrets.token_urlsafe(18)   # every volunteer's, and
ADMIN_PASSWORD = secrets.token_urlsafe(24)       # the sysadmins', for this run only
REGISTRATION_P95_TARGET_MS = 100.0
RUNS, QUICK_RUNS = 3, 1
# page -> (clients, requests per client, seconds at most), full and quick
LOAD = {"login page": (20, 100, 30), "registration": (20, 20, 60), "registration alone": (1, 30, 30),
        "approval": (4, 25, 60)}
QUICK_LOAD = {"login page": (20, 25, 15), "registration": (20, 5, 30), "registration alone": (1, 10, 15),
              "approval": (4, 10, 30)}


class Gunicorn(OwnedProcess):
    """`gunicorn -w 2 app:app` from the checkout, its settings in PROVISIONER_* variables."""

    start_timeout = 60.0

    def __init__(self, folder: Path, settings: dict):
        self.folder, self.port = folder, free_port()
        self.environment = environment_for(settings)

    def start(self) -> Gunicorn:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with open(self.folder / "gunicorn.log", "ab") as log:
            self._process = subprocess.Popen(
                # No control socket: its default path in $HOME is shared with every other gunicorn.
                [str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{self.port}", "--no-control-socket", "app:app"],
                cwd=CHECKOUT, env=self.environment, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if not self._wait_until_ours():
            tail = (self.folder / "gunicorn.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"gunicorn did not serve the portal: {tail}")
        return self

    def _is_ours(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return json.load(response).get("status") == "ok"
        except OSError:
            return False

    def peak_memory_mb(self) -> dict[str, float]:
        """VmHWM of the master and of each worker, in MB."""
        pid = self._process.pid
        workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return {("master" if process == str(pid) else f"worker {process}"): peak_rss_mb(process)
                for process in [str(pid), *workers]}


def sysadmins(count: int) -> dict[str, str]:
    """Sysadmins with two-step login set up five minutes ago: uid -> TOTP secret.

    One per approving client: a TOTP code logs in once, so each client needs a person of its own.
    """
    directory, secret_of = get_directory(), {}
    moment = utc_now() - timedelta(minutes=5)
    portal = replace(get_portal(), clock=lambda: moment)
    for number in range(count):
        uid = f"admin{number}"
        create_sysadmin(directory, uid, f"{uid}@example.org", f"Admin {number}", ADMIN_PASSWORD)
        secret_of[uid] = new_secret()
        confirm_enrolment(portal, uid, secret_of[uid], pyotp.TOTP(secret_of[uid]).at(moment))
    return secret_of


def log_in(port: int, uid: str, secret: str) -> dict[str, str]:
    """A sysadmin's session cookies, after the password and the TOTP code."""
    browser = Browser(port)
    browser.read_token("/login")
    status, _ = browser.request("POST", "/login", {"uid": uid, "password": ADMIN_PASSWORD})
    browser.read_token("/login/code")
    code_status, _ = browser.request("POST", "/login/code", {"code": pyotp.TOTP(secret).now()})
    browser.close()
    if (status, code_status) != (302, 302):
        raise RuntimeError(f"{uid} did not log in: HTTP {status}, then {code_status}")
    return browser.cookies


def verified_requests(prefix: str, count: int) -> list[str]:
    directory, uids = get_directory(), [f"{prefix}{number:04d}" for number in range(count)]
    for uid in uids:
        directory.people.add(NewPerson(uid=uid, display_name=f"Request {uid}", mail=f"{uid}@example.org",
                                       status=Status.VERIFIED, requested_groups=tuple(GROUPS)), pending=True)
    return uids


def login_page_plan(clients: int, each: int) -> list[dict]:
    return [{"requests": [{"method": "GET", "path": "/login"}] * each} for _ in range(clients)]


def registration_plan(run: str, clients: int, each: int) -> list[dict]:
    def form(uid: str) -> dict:
        return {"uid": uid, "display_name": f"Volunteer {uid}", "mail": f"{uid}@example.org",
                "password": VOLUNTEER_PASSWORD, "password_again": VOLUNTEER_PASSWORD, "groups": GROUPS,
                "skills": "cooking, first aid", "availability": "day", "note": ""}

    return [{"token_page": "/register",
             "requests": [{"method": "POST", "path": "/register", "form": form(f"v{run}x{client}x{number}"),
                           "expect": 302} for number in range(each)]}
            for client in range(clients)]


def approval_plan(sessions: list[dict], uids: list[str]) -> list[dict]:
    """Each sysadmin approves a share of `uids`. They keep the session they were given: a
    browser follows the redirect to a page that shows (and clears) the flashed outcome, which
    these clients do not, so the flashes would otherwise pile up in their cookie."""
    share = math.ceil(len(uids) / len(sessions))
    return [{"cookies": cookies, "token_page": "/account", "take_cookies": False,
             "requests": [{"method": "POST", "path": f"/admin/requests/{uid}/approve",
                           "form": {"groups": GROUPS}, "expect": 302}
                          for uid in uids[number * share:(number + 1) * share]]}
            for number, cookies in enumerate(sessions)]


def generate_load(port: int, seconds: float, clients: list[dict]) -> dict:
    result = subprocess.run([sys.executable, str(LOADGEN)], input=json.dumps(
        {"port": port, "seconds": seconds, "clients": clients}), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the load generator failed: {result.stderr[-2000:]}")
    measured = json.loads(result.stdout)
    if measured["unexpected"]:
        unexpected = measured["unexpected"]
        raise RuntimeError(f"{len(unexpected)} unexpected answers, e.g. {unexpected[0]}")
    return measured


def percentile(values: list[float], share: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def run(quick: bool = False) -> tuple[list[Row], dict]:
    runs, load = (QUICK_RUNS, QUICK_LOAD) if quick else (RUNS, LOAD)
    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))   # short: the ldapi socket path must stay short
    measured: dict[str, list[dict]] = {page: [] for page in load}
    try:
        # The SMTP server takes every mail and keeps none: the portal's mail costs, no disk.
        with bench_stack(folder) as stack:
            # Every client comes from 127.0.0.1: the per-address registration limit (a
            # camp's welcome desk) would refuse the load itself.
            registrations = sum(clients * each for page, (clients, each, _) in load.items()
                                if page.startswith("registration")) * runs
            config = app_config(stack, SECURE_COOKIES=False, PUBLIC_URL="http://127.0.0.1",
                                REGISTRATIONS_PER_ADDRESS_PER_HOUR=registrations)
            app = create_app(config)
            approvers, per_approver, _ = load["approval"]
            with app.app_context():
                initialise_directory(get_directory(), get_catalogue(), BENCH.name)
                secret_of = sysadmins(approvers)
                to_approve = [verified_requests(f"a{number}x", approvers * per_approver)
                              for number in range(runs)]
            portal = stack.started(Gunicorn(folder, config))
            sessions = [log_in(portal.port, uid, secret) for uid, secret in secret_of.items()]
            for number in range(runs):
                for page, (clients, each, seconds) in load.items():
                    if page == "login page":
                        plan = login_page_plan(clients, each)
                    elif page == "approval":
                        plan = approval_plan(sessions, to_approve[number])
                    else:
                        plan = registration_plan(f"{number}{page[-1]}", clients, each)
                    measured[page].append(generate_load(portal.port, seconds, plan))
            memory = portal.peak_memory_mb()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows(measured, load, memory), {"load": load, "runs": runs, "peak_memory_mb": memory, **{
        page: [{"requests": len(run["latencies_ms"]), "seconds": run["seconds"]} for run in page_runs]
        for page, page_runs in measured.items()}}


def rows(measured: dict[str, list[dict]], load: dict, memory: dict[str, float]) -> list[Row]:
    found = []
    for page, page_runs in measured.items():
        clients = load[page][0]
        p95 = Spread.of([percentile(run["latencies_ms"], 0.95) for run in page_runs])
        registration = page == "registration"
        found += [
            Row("portal", f"{page}: requests/s, {clients} clients",
                Spread.of([len(run["latencies_ms"]) / run["seconds"] for run in page_runs]), "/s"),
            Row("portal", f"{page}: p50 latency", Spread.of(
                [percentile(run["latencies_ms"], 0.5) for run in page_runs]), "ms"),
            Row("portal", f"{page}: p95 latency", p95, "ms",
                f"< {REGISTRATION_P95_TARGET_MS:.0f} ms" if registration else "",
                p95.median < REGISTRATION_P95_TARGET_MS if registration else None),
        ]
    workers = [value for name, value in memory.items() if name != "master"]
    return [*found,
            Row("memory", "portal: peak RSS of the largest gunicorn worker", Spread.of([max(workers)]), "MB"),
            Row("memory", "portal: peak RSS, master + 2 workers", Spread.of([sum(memory.values())]), "MB")]
