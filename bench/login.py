"""Wrong-password logins: as long for a username nobody has as for an existing account.

A wrong password for an account costs slapd an argon2 hash and ppolicy's failure
write; the portal makes a login for an unknown name do the same work by binding to
the login decoy (provisioner/directory/logins.py). This measures both, alternately,
two ways:

- workflow: `provisioner.workflow.log_in` (one search, one bind, one audit record);
- HTTP: POST /login through Flask's test client, so the limits, the audit and the
  page are in it too. Each request comes from an address of its own, as a scan
  from many addresses would; the limits have nothing to refuse.

Every existing account takes at most 5 wrong passwords, so none reaches slapd's
lock (10); every unknown name is new. The decoy takes all the unknown names' wrong
passwords, so it is measured in the state a scan leaves it in. A round is K tries
of each kind, interleaved; its figure is unknown / existing of the two medians.
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_stack import BENCH, app_config, bench_stack
from figures import Row, Spread

from provisioner import create_app
from provisioner.directory import NewPerson, Status
from provisioner.resources import get_catalogue, get_directory, get_portal
from provisioner.workflow import initialise_directory, log_in

ROUNDS, QUICK_ROUNDS = 5, 2
TRIES, QUICK_TRIES = 20, 10          # per kind and round
USES_PER_ACCOUNT = 5                 # wrong passwords each account takes: under slapd's lock at 10
TARGET = 1.1                         # the issue's: the two medians within 1.1x of each other
WRONG = "a wrong guess at the password"
NAMES = {"workflow": "workflow log_in", "http": "POST /login"}


def make_accounts(count: int) -> list[str]:
    directory = get_directory()
    uids = [f"vol{number:04d}" for number in range(count)]
    for uid in uids:
        directory.people.add(NewPerson(uid=uid, display_name=f"Volunteer {uid}", mail=f"{uid}@example.org",
                                       status=Status.ACTIVE), pending=False)
        directory.people.set_password(uid, secrets.token_urlsafe(24))   # never needed again
    return uids


def timed_ms(attempt: Callable[[str], None], uid: str) -> float:
    started = time.perf_counter()
    attempt(uid)
    return 1000 * (time.perf_counter() - started)


class Tries:
    """The two ways of trying a wrong password, each checking it was refused as a wrong one."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.requests = 0

    def workflow(self, uid: str) -> None:
        with self.app.app_context():
            if log_in(get_portal(), uid, WRONG) is not None:
                raise RuntimeError(f"{uid} logged in with a wrong password")

    def http(self, uid: str) -> None:
        self.requests += 1
        address = f"10.{self.requests // 65536 % 256}.{self.requests // 256 % 256}.{self.requests % 256}"
        response = self.client.post("/login", data={"uid": uid, "password": WRONG},
                                    headers={"Origin": "http://127.0.0.1"},
                                    environ_overrides={"REMOTE_ADDR": address})
        if response.status_code != 401:
            raise RuntimeError(f"POST /login for {uid} answered {response.status_code}, not 401")


def run(quick: bool = False) -> tuple[list[Row], dict]:
    rounds, tries = (QUICK_ROUNDS, QUICK_TRIES) if quick else (ROUNDS, TRIES)
    ways = ("workflow", "http")
    ms: dict[str, dict[str, list[list[float]]]] = {way: {"existing": [], "unknown": []} for way in ways}
    folder = Path(tempfile.mkdtemp(prefix="bench-login-"))   # short: the ldapi socket path must stay short
    try:
        with bench_stack(folder) as stack:
            app = create_app(app_config(stack, SECURE_COOKIES=False, PUBLIC_URL="http://127.0.0.1",
                                        WTF_CSRF_ENABLED=False))
            with app.app_context():
                initialise_directory(get_directory(), get_catalogue(), BENCH.name)
                existing_tries = (rounds + 1) * tries * len(ways)
                accounts = make_accounts(-(-existing_tries // USES_PER_ACCOUNT))
            by_turn = iter(uid for uid in accounts for _ in range(USES_PER_ACCOUNT))
            attempts = Tries(app)
            for number in range(rounds + 1):               # round 0 warms slapd, SQLite and the caches
                for way in ways:
                    existing, unknown = [], []
                    try_one = getattr(attempts, way)
                    for turn in range(tries):
                        uid, stranger = next(by_turn), f"nobody-{way}-{number}-{turn}"
                        existing.append(timed_ms(try_one, uid))
                        unknown.append(timed_ms(try_one, stranger))
                    if number:
                        ms[way]["existing"].append(existing)
                        ms[way]["unknown"].append(unknown)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows(ms), {"tries_per_kind_and_round": tries, "rounds": rounds, "milliseconds": ms,
                      "targets": targets(ms)}


def ratio(kinds: dict[str, list[list[float]]]) -> Spread:
    """Unknown over existing, of each round's medians."""
    medians = {kind: [statistics.median(one_round) for one_round in rounds] for kind, rounds in kinds.items()}
    return Spread.of([unknown / existing for unknown, existing
                      in zip(medians["unknown"], medians["existing"], strict=True)])


def targets(ms: dict[str, dict[str, list[list[float]]]]) -> list[dict]:
    """The issue's target, both ways: the two medians within 1.1x of each other."""
    return [{"name": f"failed login unknown / existing within {TARGET} ({NAMES[way]})",
             "value": round(value, 2), "target": TARGET, "met": 1 / TARGET <= value <= TARGET}
            for way, kinds in ms.items() for value in [ratio(kinds).median]]


def rows(ms: dict[str, dict[str, list[list[float]]]]) -> list[Row]:
    found = []
    for way, kinds in ms.items():
        medians = {kind: [statistics.median(one_round) for one_round in rounds]
                   for kind, rounds in kinds.items()}
        unknown_vs_existing = ratio(kinds)
        found += [
            Row("login", f"{NAMES[way]}, wrong password: unknown name / existing account",
                unknown_vs_existing, "×", f"{1 / TARGET:.2f}–{TARGET}×",
                1 / TARGET <= unknown_vs_existing.median <= TARGET),
            Row("login", f"{NAMES[way]}, wrong password, existing account",
                Spread.of(medians["existing"]), "ms"),
            Row("login", f"{NAMES[way]}, wrong password, unknown name",
                Spread.of(medians["unknown"]), "ms"),
        ]
    return found
