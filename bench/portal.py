"""The portal under load: requests/s and p50/p95 latency, gunicorn as deployed, on loopback.

The portal runs as it is served in production: gunicorn with gthread workers, as many
processes and threads as the portal role's defaults (`portal_gunicorn_workers`,
`portal_gunicorn_threads`), configured by PROVISIONER_* variables, over a private slapd
(`dbnosync`), an SQLite store and an SMTP sink on loopback. The load comes from
bench/loadgen.py in a process of its own; each client keeps its own cookies and CSRF
token. The pages:

- login page: GET /login, 20 clients;
- registration: POST /register with a new volunteer each time, 20 clients; the portal
  has slapd hash the password (argon2), stores the request and queues the verification
  mail (the worker sends it, not run here). Clients send their next request as soon as
  the last is answered, so at saturation latency is mostly queueing (clients /
  throughput): "registration alone", one client, gives the time of one. Held against
  the floor (ldap_floors.py), slapd setting passwords from 20 threads, measured just
  before, and open loop: 25 a second for a fixed time, latency from when each was due;
- password login: POST /login with the right password, an account without TOTP for each
  client, answered by a redirect to /account; 20 clients, held against slapd's simple
  binds from 20 threads as those accounts, and open loop at 15 a second;
- approval: POST /admin/requests/<uid>/approve of a verified request, 4 clients, each a
  sysadmin logged in with password and TOTP code; the portal moves the entry, adds the
  groups, queues the provisioning job and the welcome mail.

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
import yaml
from bench_stack import BENCH, CHECKOUT, app_config, bench_stack
from figures import Row, Spread
from ldap_floors import binds_per_second, password_sets_per_second
from loadgen import Browser
from processes import environment_for, peak_rss_mb

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.directory import NewPerson, Status
from provisioner.private_services.process import OwnedProcess, free_port
from provisioner.resources import get_catalogue, get_directory, get_portal
from provisioner.workflow import confirm_enrolment, create_sysadmin, initialise_directory, new_secret

LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
# gunicorn's processes and threads, as the portal role deploys them.
ROLE_DEFAULTS = yaml.safe_load((CHECKOUT / "playbooks/roles/portal/defaults/main.yml").read_text())
WORKERS, THREADS = ROLE_DEFAULTS["portal_gunicorn_workers"], ROLE_DEFAULTS["portal_gunicorn_threads"]
GROUPS = ["kitchen", "tech"]
VOLUNTEER_PASSWORD = secrets.token_urlsafe(18)   # every volunteer's, and
ADMIN_PASSWORD = secrets.token_urlsafe(24)       # the sysadmins', for this run only
# The targets (issue 18).
REGISTRATION_FLOOR_TARGET = 0.6     # registrations/s at 20 clients over slapd's password sets/s, at least
REGISTRATION_P95_TARGET_MS = 100.0  # at 25/s open loop, under
LOGINS_TARGET = 30.0                # password logins/s at 20 clients, at least
LOGIN_FLOOR_TARGET = 0.6            # ... over slapd's simple binds/s, at least
LOGIN_P95_TARGET_MS = 200.0         # at 15/s open loop, under
RUNS, QUICK_RUNS = 3, 1
# page -> (clients, requests per client, seconds at most), full and quick
LOAD = {"login page": (20, 100, 30), "registration": (20, 20, 60), "registration alone": (1, 30, 30),
        "password login": (20, 50, 30), "approval": (4, 25, 60)}
QUICK_LOAD = {"login page": (20, 25, 15), "registration": (20, 5, 30), "registration alone": (1, 10, 15),
              "password login": (20, 15, 15), "approval": (4, 10, 30)}
# open-loop page -> (requests a second, seconds, clients ready to send), full and quick
OPEN_LOAD = {"registration, open loop": (25, 20, 32), "password login, open loop": (15, 20, 32)}
QUICK_OPEN_LOAD = {"registration, open loop": (25, 8, 32), "password login, open loop": (15, 8, 32)}
# Operations per thread of the floors (20 threads each), full and quick.
FLOOR_EACH, QUICK_FLOOR_EACH = {"password sets": 25, "binds": 50}, {"password sets": 10, "binds": 20}


class Gunicorn(OwnedProcess):
    """gunicorn from the checkout as the role runs it (gthread, WORKERS x THREADS), its settings
    in PROVISIONER_* variables."""

    start_timeout = 60.0

    def __init__(self, folder: Path, settings: dict):
        self.folder, self.port = folder, free_port()
        self.environment = environment_for(settings)

    def start(self) -> Gunicorn:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with open(self.folder / "gunicorn.log", "ab") as log:
            self._process = subprocess.Popen(
                # No control socket: its default path in $HOME is shared with every other gunicorn.
                [str(gunicorn), "--workers", str(WORKERS), "--worker-class", "gthread",
                 "--threads", str(THREADS), "-b", f"127.0.0.1:{self.port}", "--no-control-socket", "app:app"],
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


def registration_form(uid: str) -> dict:
    return {"uid": uid, "display_name": f"Volunteer {uid}", "mail": f"{uid}@example.org",
            "password": VOLUNTEER_PASSWORD, "password_again": VOLUNTEER_PASSWORD, "groups": GROUPS,
            "skills": "cooking, first aid", "availability": "day", "note": ""}


def registration_plan(run: str, clients: int, each: int) -> list[dict]:
    return [{"token_page": "/register",
             "requests": [{"method": "POST", "path": "/register",
                           "form": registration_form(f"v{run}x{client}x{number}"), "expect": 302}
                          for number in range(each)]}
            for client in range(clients)]


def open_registration_plan(run: str, clients: int) -> list[dict]:
    """One form each, which loadgen numbers anew for every request (`{n}`)."""
    return [{"token_page": "/register",
             "requests": [{"method": "POST", "path": "/register",
                           "form": registration_form(f"o{run}x{client}x{{n}}"), "expect": 302}]}
            for client in range(clients)]


def password_login_plan(uids: list[str], each: int) -> list[dict]:
    """Each client logs in as its own account; it keeps the session of the login page (its CSRF
    token), not the one a login starts, so every request is a login as from a new browser."""
    return [{"token_page": "/login", "take_cookies": False,
             "requests": [{"method": "POST", "path": "/login",
                           "form": {"uid": uid, "password": VOLUNTEER_PASSWORD},
                           "expect": 302, "location": "/account"}] * each}
            for uid in uids]


def accounts(count: int) -> list[str]:
    """Active accounts in no group, without TOTP, all with VOLUNTEER_PASSWORD."""
    people, uids = get_directory().people, [f"login{number:03d}" for number in range(count)]
    for uid in uids:
        people.add(NewPerson(uid=uid, display_name=f"Login {uid}", mail=f"{uid}@example.org",
                             status=Status.ACTIVE), pending=False)
        people.set_password(uid, VOLUNTEER_PASSWORD)
    return uids


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


def generate_load(port: int, seconds: float, clients: list[dict], rate: float | None = None) -> dict:
    """Run loadgen.py: closed loop, or open loop at `rate` requests a second."""
    plan = {"port": port, "seconds": seconds, "clients": clients, **({"rate": rate} if rate else {})}
    result = subprocess.run([sys.executable, str(LOADGEN)], input=json.dumps(plan),
                            capture_output=True, text=True, check=False)
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
    runs, load, open_load = (QUICK_RUNS, QUICK_LOAD, QUICK_OPEN_LOAD) if quick else (RUNS, LOAD, OPEN_LOAD)
    floor_each = QUICK_FLOOR_EACH if quick else FLOOR_EACH
    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))   # short: the ldapi socket path must stay short
    measured: dict[str, list[dict]] = {page: [] for page in [*load, *open_load]}
    floors: dict[str, list[float]] = {"password sets": [], "binds": []}
    try:
        # The SMTP server takes every mail and keeps none; the portal only queues mail anyway.
        with bench_stack(folder) as stack:
            # Every client comes from 127.0.0.1: the per-address registration limit (a
            # camp's welcome desk) would refuse the load itself. Logins with the right
            # password count against neither login limit (only failures do).
            registrations = runs * (
                sum(clients * each for page, (clients, each, _) in load.items()
                    if page.startswith("registration"))
                + sum(rate * seconds for page, (rate, seconds, _) in open_load.items()
                      if page.startswith("registration")))
            config = app_config(stack, SECURE_COOKIES=False, PUBLIC_URL="http://127.0.0.1",
                                REGISTRATIONS_PER_ADDRESS_PER_HOUR=registrations)
            app = create_app(config)
            approvers, per_approver, _ = load["approval"]
            login_clients = max(load["password login"][0], open_load["password login, open loop"][2])
            with app.app_context():
                initialise_directory(get_directory(), get_catalogue(), BENCH.name)
                layout = get_directory().layout
                secret_of = sysadmins(approvers)
                to_approve = [verified_requests(f"a{number}x", approvers * per_approver)
                              for number in range(runs)]
                login_uids = accounts(login_clients)
            slapd = stack.slapd()
            login_dns = [layout.person_dn(uid) for uid in login_uids[:load["password login"][0]]]
            portal = stack.started(Gunicorn(folder, config))
            sessions = [log_in(portal.port, uid, secret) for uid, secret in secret_of.items()]
            for number in range(runs):
                for page, (clients, each, seconds) in load.items():
                    if page == "login page":
                        plan = login_page_plan(clients, each)
                    elif page == "approval":
                        plan = approval_plan(sessions, to_approve[number])
                    elif page == "password login":
                        floors["binds"].append(binds_per_second(slapd, login_dns, VOLUNTEER_PASSWORD,
                                                                floor_each["binds"]))
                        plan = password_login_plan(login_uids[:clients], each)
                    else:
                        if page == "registration":
                            floors["password sets"].append(password_sets_per_second(
                                slapd, layout, f"f{number}", VOLUNTEER_PASSWORD, clients,
                                floor_each["password sets"]))
                        plan = registration_plan(f"{number}{page[-1]}", clients, each)
                    measured[page].append(generate_load(portal.port, seconds, plan))
                for page, (rate, seconds, clients) in open_load.items():
                    plan = (open_registration_plan(str(number), clients) if page.startswith("registration")
                            else password_login_plan(login_uids[:clients], 1))
                    measured[page].append(generate_load(portal.port, seconds, plan, rate=rate))
            memory = portal.peak_memory_mb()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    found, targets = rows(measured, load, open_load, floors, memory)
    return found, {"load": load, "open_load": open_load, "runs": runs, "gunicorn": {
        "workers": WORKERS, "threads": THREADS, "worker_class": "gthread"},
        "floors_per_second": floors, "peak_memory_mb": memory, "targets": targets, **{
        page: [{"requests": len(run["latencies_ms"]), "seconds": run["seconds"]} for run in page_runs]
        for page, page_runs in measured.items()}}


def throughput(page_runs: list[dict]) -> list[float]:
    return [len(run["latencies_ms"]) / run["seconds"] for run in page_runs]


def target(name: str, value: float, goal: float, met: bool) -> dict:
    return {"name": name, "value": round(value, 2), "target": goal, "met": met}


def rows(measured: dict[str, list[dict]], load: dict, open_load: dict, floors: dict[str, list[float]],
         memory: dict[str, float]) -> tuple[list[Row], list[dict]]:
    found = []
    for page, page_runs in measured.items():
        clients = load[page][0] if page in load else open_load[page][2]
        rate = f", {clients} clients" if page in load else f" at {open_load[page][0]}/s offered"
        found += [
            Row("portal", f"{page}: requests/s{rate}", Spread.of(throughput(page_runs)), "/s"),
            Row("portal", f"{page}: p50 latency", Spread.of(
                [percentile(run["latencies_ms"], 0.5) for run in page_runs]), "ms"),
            Row("portal", f"{page}: p95 latency", Spread.of(
                [percentile(run["latencies_ms"], 0.95) for run in page_runs]), "ms"),
        ]
    registrations = Spread.of([rate / floor for rate, floor in zip(
        throughput(measured["registration"]), floors["password sets"], strict=True)])
    logins = Spread.of(throughput(measured["password login"]))
    logins_vs_binds = Spread.of([rate / floor for rate, floor in zip(
        throughput(measured["password login"]), floors["binds"], strict=True)])
    registration_p95 = Spread.of([percentile(run["latencies_ms"], 0.95)
                                  for run in measured["registration, open loop"]])
    login_p95 = Spread.of([percentile(run["latencies_ms"], 0.95)
                           for run in measured["password login, open loop"]])
    held = [
        ("registrations/s at 20 clients / slapd's argon2 password sets/s, at least", registrations, "×",
         REGISTRATION_FLOOR_TARGET, registrations.median >= REGISTRATION_FLOOR_TARGET),
        ("registration p95 at 25/s open loop, ms, under", registration_p95, "ms",
         REGISTRATION_P95_TARGET_MS, registration_p95.median < REGISTRATION_P95_TARGET_MS),
        ("password logins/s at 20 clients, at least", logins, "/s",
         LOGINS_TARGET, logins.median >= LOGINS_TARGET),
        ("password logins/s at 20 clients / slapd's simple binds/s, at least", logins_vs_binds, "×",
         LOGIN_FLOOR_TARGET, logins_vs_binds.median >= LOGIN_FLOOR_TARGET),
        ("password login p95 at 15/s open loop, ms, under", login_p95, "ms",
         LOGIN_P95_TARGET_MS, login_p95.median < LOGIN_P95_TARGET_MS),
    ]
    found += [Row("portal", name, spread, unit, f"{'<' if 'under' in name else '≥'} {goal}", met)
              for name, spread, unit, goal, met in held]
    found += [
        Row("portal", "floor: slapd argon2 password sets/s (ldap3 add + password modify, 20 threads)",
            Spread.of(floors["password sets"]), "/s"),
        Row("portal", "floor: slapd simple binds/s (ldap3, 20 threads, an account each)",
            Spread.of(floors["binds"]), "/s"),
    ]
    workers = [value for name, value in memory.items() if name != "master"]
    return [*found,
            Row("memory", "portal: peak RSS of the largest gunicorn worker", Spread.of([max(workers)]), "MB"),
            Row("memory", f"portal: peak RSS, master + {WORKERS} workers", Spread.of([sum(memory.values())]),
                "MB")], [target(name, spread.median, goal, met) for name, spread, _, goal, met in held]
