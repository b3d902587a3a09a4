"""Provisioning through the three real services, against the floor of their bare REST calls.

For N = 100 and 1000 volunteers, each active in LDAP and in two working groups, on a
private slapd, Mailman 3 core, DokuWiki (php -S, authldap) and Redmine as deployed (puma
with 2 workers, PostgreSQL), each started once, privately, on loopback:

- end to end: one grant job for all N, timed over `Worker.run_once()` in a process of its
  own (bench/worker_once.py), so its peak memory is its own: one playbook run through the
  directory check, then lists, wiki and Redmine at the same time, each outcome recorded in
  the store; per stage, each service's task duration as the run's job events give it, and
  the span of the three together;
- floor: the same per-volunteer calls straight from Python, no Ansible, over keep-alive
  connections as the modules have them, the three services driven at the same time (a
  thread each), so its time is its slowest service's: Mailman subscribes to the 2 lists
  and the wiki checks each group's namespace (wiki.aclCheck), one volunteer after the
  other; Redmine creates the account and its 2 memberships, REDMINE_CONNECTIONS
  volunteers at a time, as redmine_members does;
- end to end / floor per volunteer, which leads: absolute times are noisy;
- the services' CPU: what the whole machine spent during the floor (/proc/stat) less the
  bench process's own, that is the three services answering; over the cores, the shortest
  time in which any client could have these requests answered here, the bound of the
  60-second stretch target (on a quiet machine: other work counts as the services').

Every run, either kind, has volunteers of its own, so both create as many accounts and
subscriptions; the floor does half of its N just before the end-to-end run and half
just after. One untimed run first creates the lists, namespaces and projects (the
floor does not create them) and warms the caches. Each figure is the median of its
runs, with min and max.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench_stack import BENCH, app_config, bench_stack
from figures import Row, Spread
from processes import environment_for, machine_cpu_seconds
from provisioning import GROUPS

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.directory import Directory, NewPerson, Status
from provisioner.jobs import GRANT, queue_access
from provisioner.private_services.dokuwiki import PrivateDokuWiki
from provisioner.private_services.mailman import PrivateMailman
from provisioner.private_services.redmine import DEFAULT_ROLE, PrivateRedmine
from provisioner.private_services.slapd import PrivateSlapd
from provisioner.private_services.stack import WikiAdmin, write_inventory
from provisioner.resources import get_catalogue, get_directory, get_store, job_settings
from provisioner.runner import TASK_END_EVENTS
from provisioner.store import Store
from provisioner.store import jobs as queue
from provisioner.store.schema import job_results, job_targets, jobs
from provisioner.workflow import create_sysadmin, initialise_directory

REPEATS = {100: 3, 1000: 3}                 # N -> runs of each kind
QUICK_REPEATS = {100: 1}                    # no target: they are held at 1000
REDMINE_CONNECTIONS = 8                     # redmine_members' `connections` default
BUSY_RETRY_SECONDS = (0.2, 0.5, 1.0)        # and its pauses before trying a 500 again
TARGET_VOLUNTEERS = 1000                    # issue 18's targets: this many volunteers
FLOOR_TARGET = 1.2                          # within 1.2x of the concurrent floor,
BATCH_TARGET_SECONDS = 60                   # and (stretch) in at most a minute
SERVICES = ("lists", "wiki", "redmine")
CORES = os.cpu_count() or 1
# services: the three at once, from the first one's start to the last one's end;
# rest: Ansible's start-up and other tasks, the worker, the store
STAGES = ("directory", *SERVICES, "services", "rest")
WIKI_ADMIN = "wikibot"
WIKI_ADMIN_PASSWORD = secrets.token_urlsafe(24)    # the wiki superuser's, in LDAP for this run only
AUTH_EDIT = 2                               # DokuWiki's permission to edit a page
WORKER_ONCE = Path(__file__).resolve().parent / "worker_once.py"


@dataclass
class Services:
    slapd: PrivateSlapd
    mailman: PrivateMailman
    wiki: PrivateDokuWiki
    redmine: PrivateRedmine


class Volunteers:
    """Active accounts vol00000, vol00001... in the two working groups; never the same twice."""

    def __init__(self, directory: Directory):
        self.directory = directory
        self.numbers = itertools.count()

    def enrol(self, count: int) -> list[NewPerson]:
        people = []
        for number in itertools.islice(self.numbers, count):
            uid = f"vol{number:05d}"
            person = NewPerson(uid=uid, display_name=f"Volunteer {number}", mail=f"{uid}@example.org",
                               status=Status.ACTIVE)
            self.directory.people.add(person, pending=False)
            for slug in GROUPS:
                self.directory.groups.add_member(f"wg-{slug}", uid)
            people.append(person)
        return people


class EndToEnd:
    """Queues a grant job, times a worker process's run of it, reads its stages, and clears up."""

    def __init__(self, settings: dict, store: Store, job_settings: dict, runner_dir: Path):
        self.settings, self.store, self.runner_dir = settings, store, runner_dir
        self.job_settings = job_settings

    def run(self, people: list[NewPerson]) -> dict[str, float]:
        """Seconds in all and per stage, and the worker's memory, for a job that must succeed
        and change every account."""
        job_id = queue_access(self.store, GRANT, {person.uid: GROUPS for person in people},
                              actor="bench", now=utc_now(), settings=self.job_settings)
        result = subprocess.run([sys.executable, str(WORKER_ONCE)], env=environment_for(self.settings),
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"the worker failed: {result.stderr[-2000:]}")
        worker = json.loads(result.stdout.splitlines()[-1])
        with self.store.begin() as connection:
            job = queue.get(connection, job_id)
            for table in (job_results, job_targets, jobs):   # the next run starts from an empty queue
                connection.execute(table.delete())
        service_of = {result.task: result.service for result in job.results}
        stages = task_seconds(self.runner_dir / "artifacts", service_of)
        shutil.rmtree(self.runner_dir / "artifacts", ignore_errors=True)
        if worker["ran"] != 1 or job.state != queue.SUCCEEDED:
            raise RuntimeError(f"the benchmark job did not succeed: {job.state}, {job.error}")
        unchanged = [result for result in job.results
                     if result.service in ("lists", "redmine") and result.status != "changed"]
        if unchanged:
            raise RuntimeError(f"{len(unchanged)} outcomes did not change anything, e.g. {unchanged[0]}")
        seconds = worker["seconds"]
        return {"total": seconds, **stages, "rest": seconds - stages["directory"] - stages["services"],
                "worker_peak_rss_mb": worker["peak_rss_mb"],
                "children_peak_rss_mb": worker["children_peak_rss_mb"]}


def task_seconds(artifacts: Path, service_of: dict[str, str]) -> dict[str, float]:
    """Each service's task duration, from the job events of the one run under `artifacts`,
    and the span of the services' tasks together (they run at the same time)."""
    stages, spans = {}, []
    for path in artifacts.glob("*/job_events/*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        if event.get("event") in TASK_END_EVENTS and data.get("task") in service_of:
            service = service_of[data["task"]]
            stages[service] = data["duration"]
            if service in SERVICES:
                spans.append((datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])))
    if set(stages) != {"directory", *SERVICES}:
        raise RuntimeError(f"the run's events give durations for {sorted(stages)} only")
    stages["services"] = (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()
    return stages


class JsonApi:
    """One keep-alive connection to a JSON REST API (http.client reopens it if the server closes it)."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Accept": "application/json", "Content-Type": "application/json", **headers}

    def post(self, path: str, body: dict, expect: int = 201) -> dict | None:
        """The created entity; None when a try after a 500 finds it done ("already taken").

        A 500 is tried again as redmine_members does: Redmine on SQLite (the tests') with
        requests in flight sometimes answers 500 (database is locked), having done the work
        or not.
        """
        retried = False
        for pause in (*BUSY_RETRY_SECONDS, None):
            status, data = self.request("POST", path, body)
            if status != 500 or pause is None:
                break
            retried = True
            time.sleep(pause)
        if retried and status == 422:
            return None
        if status != expect:
            raise RuntimeError(f"POST {path}: HTTP {status} {data}")
        return data

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.connection.request(method, path, body=None if body is None else json.dumps(body),
                                headers=self.headers)
        response = self.connection.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw.strip() else {}
        except ValueError:
            return response.status, {"body": raw[:200].decode(errors="replace")}

    def close(self) -> None:
        self.connection.close()


class WikiSession(xmlrpc.client.Transport):
    """Basic auth on every call, and DokuWiki's session cookie sent back, as the wiki module does."""

    def __init__(self, user: str, password: str):
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        super().__init__(headers=[("Authorization", f"Basic {token}")])
        self.cookies: dict[str, str] = {}

    def send_headers(self, connection, headers):
        if self.cookies:
            cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
            headers = [*headers, ("Cookie", cookie)]
        super().send_headers(connection, headers)

    def parse_response(self, response):
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0].strip()
        return super().parse_response(response)


class Floor:
    """The modules' per-volunteer calls, straight from Python, the three services at the same time."""

    def __init__(self, services: Services):
        self.services = services
        redmine = services.redmine
        roles = redmine.request("GET", "/roles.json")[1]["roles"]
        self.role_id = next(role["id"] for role in roles if role["name"] == DEFAULT_ROLE)
        self.project_ids = [redmine.request("GET", f"/projects/wg-{slug}.json")[1]["project"]["id"]
                            for slug in GROUPS]

    def run(self, people: list[NewPerson]) -> dict[str, float]:
        """Seconds per service and in all: a thread per service, all started together. And
        `services_cpu`: the CPU seconds the machine spent meanwhile outside this process,
        which is the three services answering (on a machine doing nothing else)."""
        works = (self.subscribe, self.check_wiki, self.add_to_redmine)
        machine, own = machine_cpu_seconds(), time.process_time()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
            running = {service: pool.submit(timed, work, people)
                       for service, work in zip(SERVICES, works, strict=True)}
            stages = {service: future.result() for service, future in running.items()}
        total = time.perf_counter() - started
        services_cpu = (machine_cpu_seconds() - machine) - (time.process_time() - own)
        return {"total": total, **stages, "services_cpu": services_cpu}

    def subscribe(self, people: list[NewPerson]) -> None:
        mailman = self.services.mailman
        token = base64.b64encode(f"{mailman.admin_user}:{mailman.admin_password}".encode()).decode()
        api = JsonApi(mailman.port, {"Authorization": f"Basic {token}"})
        try:
            for person in people:
                for slug in GROUPS:
                    api.post("/3.1/members", {
                        "list_id": f"wg-{slug}.{BENCH.list_domain}", "subscriber": person.mail,
                        "display_name": person.display_name, "pre_verified": True, "pre_confirmed": True,
                        "pre_approved": True, "send_welcome_message": False})
        finally:
            api.close()

    def check_wiki(self, people: list[NewPerson]) -> None:
        session = WikiSession(WIKI_ADMIN, WIKI_ADMIN_PASSWORD)
        with xmlrpc.client.ServerProxy(self.services.wiki.xmlrpc_url, transport=session) as wiki:
            for person in people:
                for slug in GROUPS:
                    level = wiki.wiki.aclCheck(f"wg:{slug}:start", person.uid)
                    if level < AUTH_EDIT:
                        raise RuntimeError(f"the wiki gives {person.uid} permission {level} on wg:{slug}")

    @staticmethod
    def user_id(api: JsonApi, login: str) -> int:
        """The id of an account made by a request that answered 500, as the module looks it up."""
        status, data = api.request("GET", f"/users.json?name={login}&status=")
        found = [user["id"] for user in data.get("users", []) if user.get("login") == login]
        if status != 200 or not found:
            raise RuntimeError(f"Redmine has no account {login} after a 500: HTTP {status}")
        return found[0]

    def add_to_redmine(self, people: list[NewPerson]) -> None:
        """REDMINE_CONNECTIONS volunteers at a time, a connection each, as the module does."""
        redmine, local, opened = self.services.redmine, threading.local(), []

        def add(person: NewPerson) -> None:
            if not hasattr(local, "api"):
                local.api = JsonApi(redmine.port, {"X-Redmine-API-Key": redmine.api_key})
                opened.append(local.api)
            firstname, lastname = person.display_name.rsplit(" ", 1)
            created = local.api.post("/users.json", {"user": {
                "login": person.uid, "firstname": firstname, "lastname": lastname, "mail": person.mail,
                "auth_source_id": redmine.auth_source_id}})
            user_id = created["user"]["id"] if created else self.user_id(local.api, person.uid)
            for project_id in self.project_ids:
                local.api.post(f"/projects/{project_id}/memberships.json",
                               {"membership": {"user_id": user_id, "role_ids": [self.role_id]}})

        try:
            with ThreadPoolExecutor(max_workers=REDMINE_CONNECTIONS) as pool:
                list(pool.map(add, people))
        finally:
            for api in opened:
                api.close()


def timed(work: Callable[[list[NewPerson]], None], people: list[NewPerson]) -> float:
    started = time.perf_counter()
    work(people)
    return time.perf_counter() - started


def measure(volunteers: Volunteers, end_to_end: EndToEnd, floor: Floor, size: int, repeats: int) -> dict:
    """Both kinds on volunteers of their own, `repeats` times.

    The floor does half its volunteers before the end-to-end run and half after it, so on
    average both meet the services holding as many accounts and members, and the same load.
    """
    runs = {"floor": [], "end_to_end": []}
    for _ in range(repeats):
        before = floor.run(volunteers.enrol(size // 2))
        runs["end_to_end"].append(end_to_end.run(volunteers.enrol(size)))
        after = floor.run(volunteers.enrol(size - size // 2))
        runs["floor"].append({stage: before[stage] + after[stage] for stage in before})
    return {"volunteers": size, **runs}


def run(quick: bool = False) -> tuple[list[Row], dict]:
    folder = Path(tempfile.mkdtemp(prefix="bench-"))   # short: the ldapi socket path must stay short
    try:
        with bench_stack(folder, WikiAdmin(WIKI_ADMIN, WIKI_ADMIN_PASSWORD)) as stack:
            services = Services(stack.slapd(), stack.mailman(), stack.wiki(), stack.redmine())
            offered = (services.mailman, services.wiki, services.redmine)
            settings = app_config(stack, INVENTORY=str(write_inventory(folder / "inventory", *offered)))
            app = create_app(settings)
            with app.app_context():
                directory = get_directory()
                initialise_directory(directory, get_catalogue(), BENCH.name)
                create_sysadmin(directory, WIKI_ADMIN, "wikibot@example.org", "Wiki Robot",
                                WIKI_ADMIN_PASSWORD)
                end_to_end = EndToEnd(settings, get_store(), job_settings(app.config),
                                     Path(settings["RUNNER_DIR"]))
                volunteers = Volunteers(directory)
                end_to_end.run(volunteers.enrol(1))      # warm-up: the lists, namespaces and projects
                floor = Floor(services)
                measured = [measure(volunteers, end_to_end, floor, size, repeats)
                            for size, repeats in (QUICK_REPEATS if quick else REPEATS).items()]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows(measured), {"runs": measured, "targets": targets(measured)}


STAGE_NAMES = {"directory": "directory check (LDAP)", "lists": "lists (Mailman)", "wiki": "wiki (DokuWiki)",
               "redmine": "Redmine", "services": "the three services at once",
               "rest": "the rest (Ansible, worker, store)"}


def targets(measured: list[dict]) -> list[dict]:
    """Issue 18's targets, when the run measured TARGET_VOLUNTEERS: name, value, target, met."""
    found = []
    for size in measured:
        if size["volunteers"] != TARGET_VOLUNTEERS:
            continue
        ours, bare = size["end_to_end"], size["floor"]
        ratio = Spread.of([a["total"] / b["total"] for a, b in zip(ours, bare, strict=True)]).median
        seconds = Spread.of([run["total"] for run in ours]).median
        found += [{"name": f"{TARGET_VOLUNTEERS} volunteers end to end / concurrent REST floor",
                   "value": round(ratio, 2), "target": FLOOR_TARGET, "met": ratio <= FLOOR_TARGET},
                  {"name": f"{TARGET_VOLUNTEERS} volunteers end to end, seconds (stretch)",
                   "value": round(seconds, 1), "target": BATCH_TARGET_SECONDS,
                   "met": seconds <= BATCH_TARGET_SECONDS}]
    return found


def rows(measured: list[dict]) -> list[Row]:
    found, largest = [], max(size["volunteers"] for size in measured)
    for size in measured:
        count, ours, bare = size["volunteers"], size["end_to_end"], size["floor"]
        ratio = Spread.of([a["total"] / b["total"] for a, b in zip(ours, bare, strict=True)])
        batch = Spread.of([run["total"] for run in ours])
        floor = Spread.of([run["total"] for run in bare])
        if count == TARGET_VOLUNTEERS:
            found += [Row("services", f"N={count}: end to end / concurrent REST floor", ratio, "×",
                          f"≤ {FLOOR_TARGET}×", ratio.median <= FLOOR_TARGET),
                      Row("services", f"N={count}: end to end, whole batch", batch, "s",
                          f"≤ {BATCH_TARGET_SECONDS} s", batch.median <= BATCH_TARGET_SECONDS)]
        else:
            found += [Row("services", f"N={count}: end to end / concurrent REST floor", ratio, "×"),
                      Row("services", f"N={count}: end to end, whole batch", batch, "s")]
        found.append(Row("services", f"N={count}: concurrent REST floor, whole batch", floor, "s"))
        services_cpu = [run["services_cpu"] for run in bare]
        found += [Row("services", f"N={count}: the services' CPU for the floor's requests",
                      Spread.of(services_cpu), "core-s"),
                  Row("services", f"N={count}: the shortest batch that CPU allows on {CORES} cores",
                      Spread.of([seconds / CORES for seconds in services_cpu]), "s")]
        for stage in STAGES:
            found.append(Row("services", f"N={count}: {STAGE_NAMES[stage]}, end to end",
                             Spread.of([run[stage] for run in ours]), "s"))
            if stage in bare[0]:
                found.append(Row("services", f"N={count}: {STAGE_NAMES[stage]}, floor",
                                 Spread.of([run[stage] for run in bare]), "s"))
        if count == largest:
            found += [Row("memory", f"worker: peak RSS, N={count}",
                          Spread.of([run["worker_peak_rss_mb"] for run in ours]), "MB"),
                      Row("memory", f"worker: peak RSS of the largest process it started, N={count}",
                          Spread.of([run["children_peak_rss_mb"] for run in ours]), "MB")]
    return found
