"""Provisioning through the three real services, against the floor of their bare REST calls.

For N = 100 and 1000 volunteers, each active in LDAP and in two working groups, on a
private slapd, Mailman 3 core, DokuWiki (php -S, authldap) and Redmine (webrick, SQLite),
each started once, privately, on loopback, as the tests start them:

- end to end: one grant job for all N, timed over `Worker.run_once()` (one playbook
  run: directory check, lists, wiki, Redmine, each outcome recorded in the store); per
  stage, each service's task duration as the run's job events give it;
- floor: the same per-volunteer calls straight from Python, no Ansible, one keep-alive
  connection per service as the modules have: Mailman subscribes to the 2 lists, the
  wiki checks each group's namespace (wiki.aclCheck), Redmine creates the account and
  its 2 memberships;
- end to end / floor per volunteer, which leads the table: absolute times are noisy.

Every run, either kind, has volunteers of its own, so both create as many accounts and
subscriptions; the floor does half of its N just before the end-to-end run and half
just after. One untimed run first creates the lists, namespaces and projects (the
floor does not create them) and warms the caches. Repetitions: 3 at N = 100, 1 at
N = 1000 (a run there takes minutes); each figure is the median of its runs, with min
and max. Prints tables and writes the same as JSON to var/bench/services.json.

Run: .venv/bin/python bench/services.py   (or: make bench, after bench/provisioning.py)
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from provisioning import BASE_DN, GROUPS, app_config, summary

from provisioner import create_app
from provisioner.directory import Directory, NewPerson, Status
from provisioner.jobs import GRANT, Worker, queue_access
from provisioner.private_services.dokuwiki import PrivateDokuWiki
from provisioner.private_services.mailman import PrivateMailman
from provisioner.private_services.redmine import DEFAULT_ROLE, LdapSource, PrivateRedmine, golden_database
from provisioner.resources import get_catalogue, get_directory, get_store, job_settings, runner_settings
from provisioner.runner import TASK_END_EVENTS, PlaybookRunner
from provisioner.slapd import PrivateSlapd
from provisioner.store import Store
from provisioner.store import jobs as queue
from provisioner.store.schema import job_results, job_targets, jobs
from provisioner.workflow import create_sysadmin, initialise_directory

REPEATS = {100: 3, 1000: 1}                 # N -> runs of each kind
SERVICES = ("lists", "wiki", "redmine")     # in the playbook's order
STAGES = ("directory", *SERVICES, "rest")   # rest: Ansible's start-up and tasks, the worker, the store
LIST_DOMAIN = "lists.bench.occupy"
WIKI_ADMIN = "wikibot"
WIKI_ADMIN_PASSWORD = secrets.token_urlsafe(24)    # the wiki superuser's, in LDAP for this run only
AUTH_EDIT = 2                               # DokuWiki's permission to edit a page
CHECKOUT = Path(__file__).resolve().parent.parent
GOLDEN_CACHE = CHECKOUT / "var" / "cache" / "redmine-golden"
RESULTS = CHECKOUT / "var" / "bench" / "services.json"


@dataclass
class Services:
    slapd: PrivateSlapd
    mailman: PrivateMailman
    wiki: PrivateDokuWiki
    redmine: PrivateRedmine


@contextmanager
def private_services(folder: Path) -> Iterator[Services]:
    """slapd, Mailman, DokuWiki and Redmine in subfolders of `folder`; all stopped on leaving."""
    with ExitStack() as stack:
        slapd = stack.enter_context(PrivateSlapd(folder / "slapd", BASE_DN, fast_writes=True))
        mailman = stack.enter_context(PrivateMailman(folder / "mailman", domain=LIST_DOMAIN))
        wiki = stack.enter_context(PrivateDokuWiki(
            folder / "wiki", ldap_url=slapd.url, base_dn=BASE_DN, bind_dn=slapd.root_dn,
            bind_password=slapd.root_password, admin_user=WIKI_ADMIN, admin_password=WIKI_ADMIN_PASSWORD))
        ldap = LdapSource(host="127.0.0.1", port=slapd.port, base_dn=f"ou=people,{BASE_DN}",
                          bind_dn=slapd.root_dn, bind_password=slapd.root_password)
        redmine = stack.enter_context(PrivateRedmine(folder / "redmine", ldap,
                                                     golden=golden_database(GOLDEN_CACHE)))
        yield Services(slapd, mailman, wiki, redmine)


def write_inventory(folder: Path, services: Services) -> Path:
    """An inventory offering the three services, as the tests' `offer()` writes it."""
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    for service in (services.mailman, services.wiki, services.redmine):
        host.update(service.inventory_vars())
    folder.mkdir()
    (folder / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": host}}}))
    return folder


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
    """Queues a grant job, times the worker's run of it, reads its stages, and clears up."""

    def __init__(self, worker: Worker, store: Store, runner_dir: Path):
        self.worker, self.store, self.runner_dir = worker, store, runner_dir

    def run(self, people: list[NewPerson]) -> dict[str, float]:
        """Seconds in all and per stage, for a job that must succeed and change every account."""
        job_id = queue_access(self.store, GRANT, {person.uid: GROUPS for person in people},
                              actor="bench", now=self.worker.clock(), settings=self.worker.settings)
        started = time.perf_counter()
        ran = self.worker.run_once()
        seconds = time.perf_counter() - started
        with self.store.begin() as connection:
            job = queue.get(connection, job_id)
            for table in (job_results, job_targets, jobs):   # the next run starts from an empty queue
                connection.execute(table.delete())
        service_of = {result.task: result.service for result in job.results}
        stages = task_seconds(self.runner_dir / "artifacts", service_of)
        shutil.rmtree(self.runner_dir / "artifacts", ignore_errors=True)
        if ran != 1 or job.state != queue.SUCCEEDED:
            raise RuntimeError(f"the benchmark job did not succeed: {job.state}, {job.error}")
        unchanged = [result for result in job.results
                     if result.service in ("lists", "redmine") and result.status != "changed"]
        if unchanged:
            raise RuntimeError(f"{len(unchanged)} outcomes did not change anything, e.g. {unchanged[0]}")
        return {"total": seconds, **stages, "rest": seconds - sum(stages.values())}


def task_seconds(artifacts: Path, service_of: dict[str, str]) -> dict[str, float]:
    """Each service's task duration, from the job events of the one run under `artifacts`."""
    stages = {}
    for path in artifacts.glob("*/job_events/*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        if event.get("event") in TASK_END_EVENTS and data.get("task") in service_of:
            stages[service_of[data["task"]]] = data["duration"]
    if set(stages) != {"directory", *SERVICES}:
        raise RuntimeError(f"the run's events give durations for {sorted(stages)} only")
    return stages


class JsonApi:
    """One keep-alive connection to a JSON REST API (http.client reopens it if the server closes it)."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Accept": "application/json", "Content-Type": "application/json", **headers}

    def post(self, path: str, body: dict, expect: int = 201) -> dict:
        self.connection.request("POST", path, body=json.dumps(body), headers=self.headers)
        response = self.connection.getresponse()
        raw = response.read()
        if response.status != expect:
            raise RuntimeError(f"POST {path}: HTTP {response.status} {raw[:200]!r}")
        return json.loads(raw) if raw.strip() else {}

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
    """The modules' per-volunteer calls, straight from Python, one service after the other."""

    def __init__(self, services: Services):
        self.services = services
        redmine = services.redmine
        roles = redmine.request("GET", "/roles.json")[1]["roles"]
        self.role_id = next(role["id"] for role in roles if role["name"] == DEFAULT_ROLE)
        self.project_ids = [redmine.request("GET", f"/projects/wg-{slug}.json")[1]["project"]["id"]
                            for slug in GROUPS]

    def run(self, people: list[NewPerson]) -> dict[str, float]:
        """Seconds per service and in all."""
        stages = {service: timed(work, people) for service, work in
                  zip(SERVICES, (self.subscribe, self.check_wiki, self.add_to_redmine), strict=True)}
        return {"total": sum(stages.values()), **stages}

    def subscribe(self, people: list[NewPerson]) -> None:
        mailman = self.services.mailman
        token = base64.b64encode(f"{mailman.admin_user}:{mailman.admin_password}".encode()).decode()
        api = JsonApi(mailman.port, {"Authorization": f"Basic {token}"})
        try:
            for person in people:
                for slug in GROUPS:
                    api.post("/3.1/members", {
                        "list_id": f"wg-{slug}.{LIST_DOMAIN}", "subscriber": person.mail,
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

    def add_to_redmine(self, people: list[NewPerson]) -> None:
        redmine = self.services.redmine
        api = JsonApi(redmine.port, {"X-Redmine-API-Key": redmine.api_key})
        try:
            for person in people:
                firstname, lastname = person.display_name.rsplit(" ", 1)
                user = api.post("/users.json", {"user": {
                    "login": person.uid, "firstname": firstname, "lastname": lastname, "mail": person.mail,
                    "auth_source_id": redmine.auth_source_id}})["user"]
                for project_id in self.project_ids:
                    api.post(f"/projects/{project_id}/memberships.json",
                             {"membership": {"user_id": user["id"], "role_ids": [self.role_id]}})
        finally:
            api.close()


def timed(work: Callable[[list[NewPerson]], None], people: list[NewPerson]) -> float:
    started = time.perf_counter()
    work(people)
    return time.perf_counter() - started


def measure(volunteers: Volunteers, end_to_end: EndToEnd, floor: Floor, size: int) -> dict:
    """Both kinds on volunteers of their own, as many times as REPEATS says.

    The floor does half its volunteers before the end-to-end run and half after it, so on
    average both meet the services holding as many accounts and members, and the same load.
    """
    runs = {"floor": [], "end_to_end": []}
    for _ in range(REPEATS[size]):
        before = floor.run(volunteers.enrol(size // 2))
        runs["end_to_end"].append(end_to_end.run(volunteers.enrol(size)))
        after = floor.run(volunteers.enrol(size - size // 2))
        runs["floor"].append({stage: before[stage] + after[stage] for stage in before})
    figures = {kind: summary([run["total"] / size for run in kind_runs]) for kind, kind_runs in runs.items()}
    stages = {kind: {stage: 1000 * statistics.median(run[stage] for run in kind_runs) / size
                     for stage in STAGES if stage in kind_runs[0]}
              for kind, kind_runs in runs.items()}
    return {"volunteers": size, "ratio": figures["end_to_end"]["median_ms"] / figures["floor"]["median_ms"],
            **figures, "stages_ms_per_volunteer": stages,
            "end_to_end_batch_seconds": statistics.median(run["total"] for run in runs["end_to_end"])}


def cell(figure: dict) -> str:
    return f"{figure['median_ms']:.1f} ({figure['min_ms']:.1f}–{figure['max_ms']:.1f})"


def totals_table(rows: list[dict]) -> str:
    lines = ["| N | end to end / floor | end to end ms/volunteer (min–max) | floor ms/volunteer (min–max) "
             "| runs | end to end, whole batch |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {row['volunteers']} | {row['ratio']:.2f}× | {cell(row['end_to_end'])} "
              f"| {cell(row['floor'])} | {row['end_to_end']['runs']} "
              f"| {row['end_to_end_batch_seconds']:.0f} s |" for row in rows]
    return "\n".join(lines)


def stages_table(rows: list[dict]) -> str:
    names = {"directory": "directory check (LDAP)", "lists": "lists (Mailman)", "wiki": "wiki (DokuWiki)",
             "redmine": "Redmine", "rest": "the rest (Ansible, worker, store)"}
    lines = ["| N | stage | end to end ms/volunteer | floor ms/volunteer | end to end / floor |",
             "| ---: | --- | ---: | ---: | ---: |"]
    for row in rows:
        stages = row["stages_ms_per_volunteer"]
        for stage in STAGES:
            ours, bare = stages["end_to_end"][stage], stages["floor"].get(stage)
            ratio = f"{ours / bare:.2f}×" if bare else "–"
            lines.append(f"| {row['volunteers']} | {names[stage]} | {ours:.1f} | "
                         f"{'–' if bare is None else f'{bare:.1f}'} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="bench-"))   # short: the ldapi socket path must stay short
    try:
        with private_services(folder) as services:
            config = {**app_config(services.slapd, folder),
                      "INVENTORY": str(write_inventory(folder / "inventory", services))}
            app = create_app(config)
            with app.app_context():
                directory = get_directory()
                initialise_directory(directory, get_catalogue(), "Bench")
                create_sysadmin(directory, WIKI_ADMIN, "wikibot@example.org", "Wiki Robot",
                                WIKI_ADMIN_PASSWORD)
                worker = Worker(get_store(), directory, get_catalogue(),
                                PlaybookRunner(runner_settings(app)), job_settings(app.config))
                end_to_end = EndToEnd(worker, get_store(), folder / "runner")
                volunteers = Volunteers(directory)
                end_to_end.run(volunteers.enrol(1))      # warm-up: the lists, namespaces and projects
                floor = Floor(services)
                rows = [measure(volunteers, end_to_end, floor, size) for size in REPEATS]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = time.monotonic() - started
    report(rows, total)


def report(rows: list[dict], total: float) -> None:
    load = os.getloadavg()[2]       # other work on the machine slows both kinds, unevenly
    print(f"Provisioning through Mailman, DokuWiki and Redmine, end to end vs the bare REST calls "
          f"({date.today()}, {os.cpu_count()} cores, {total:.0f} s in all, "
          f"15-minute load average {load:.1f})")
    print("runs per N: " + ", ".join(f"{size}: {count}" for size, count in REPEATS.items())
          + " of each kind; figures are medians of those runs\n")
    print(totals_table(rows))
    print()
    print(stages_table(rows))
    largest = rows[-1]
    print(f"\nTargets (from the issue): {largest['volunteers']} volunteers in under 120 s: "
          f"{largest['end_to_end_batch_seconds']:.0f} s; within 2× of the floor: {largest['ratio']:.2f}×")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"date": str(date.today()), "cores": os.cpu_count(), "repeats": REPEATS,
                                   "total_seconds": round(total, 1), "load_average_15_min": load,
                                   "results": rows}, indent=2) + "\n")
    print(f"\nWritten to {RESULTS}")


if __name__ == "__main__":
    main()
