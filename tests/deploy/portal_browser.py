"""A person using the deployed portal over HTTPS: forms with their CSRF tokens, from its own origin.

The deployed counterpart of tests/portal_actions.py's Visitor: no Flask test client,
no access to the portal's insides; a TOTP code comes from the key the set-up page
shows, as an authenticator app would read it.
"""

from __future__ import annotations

import json
import re
import secrets
import time

import pyotp

from https_client import Answer, Site
from portal_actions import registration

CSRF_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TOTP_KEY = re.compile(r'<code id="totp-key">([A-Z2-7 ]+)</code>')
JOB_LINK = re.compile(r'<a href="/admin/jobs/(\d+)">#\d+</a></td>\s*<td>(\w+)</td>\s*<td>([^<]*)</td>')
ENROL = "/account/totp/enrol"


class Authenticator:
    """A person's authenticator app: the key it was given, the codes it showed."""

    def __init__(self, key: str):
        self.totp = pyotp.TOTP(key)
        self._last_step = 0

    def next_code(self) -> str:
        """The code of a time step not used yet: the portal refuses a code twice, and accepts
        one step ahead, so this waits only when even the next step was used."""
        now = int(time.time()) // self.totp.interval
        step = max(now, self._last_step + 1)
        if step > now + 1:
            time.sleep((step - 1) * self.totp.interval - time.time() + 0.1)
        self._last_step = step
        return self.totp.generate_otp(step)


class PortalBrowser:
    """One browser (its own cookies) on the deployed portal, and its person's authenticator."""

    def __init__(self, site: Site, authenticator: Authenticator | None = None):
        self.site = site
        self.authenticator = authenticator

    def get(self, path: str) -> Answer:
        return self.site.get(path)

    def csrf_token(self, page: str) -> str:
        answer = self.site.get(page)
        match = CSRF_TOKEN.search(answer.text)
        assert match, f"no CSRF token on {page} (HTTP {answer.status})"
        return match.group(1)

    def submit(self, page: str, data: dict, action: str | None = None) -> Answer:
        """Open `page`, then post its form (to `action` if it posts elsewhere), as a browser would."""
        token = self.csrf_token(page)
        return self.site.post_form(action or page, {**data, "csrf_token": token},
                                   headers={"Origin": self.site.base, "Referer": self.site.base + page})

    def register(self, form: dict) -> Answer:
        return self.submit("/register", form)

    def confirm(self, link: str) -> Answer:
        assert link.startswith(self.site.base + "/"), f"{link} is not on {self.site.base}"
        return self.submit(link.removeprefix(self.site.base), {})

    def enter_password(self, uid: str, password: str) -> Answer:
        return self.submit("/login", {"uid": uid, "password": password})

    def enrol_totp(self) -> Answer:
        """Set up two-step login: read the key off the page, confirm with the code it gives now."""
        match = TOTP_KEY.search(self.site.get(ENROL).text)
        assert match, "no key on the two-step login set-up page"
        self.authenticator = Authenticator(match.group(1).replace(" ", ""))
        return self.submit(ENROL, {"code": self.authenticator.next_code()})

    def log_in(self, uid: str, password: str) -> Answer:
        """Password, then the authenticator's code when asked for it."""
        answer = self.enter_password(uid, password)
        if answer.status == 302 and answer.location == "/login/code":
            assert self.authenticator is not None, f"{uid} is asked for a code but has no authenticator"
            answer = self.submit("/login/code", {"code": self.authenticator.next_code()})
        return answer

    def log_out(self) -> Answer:
        return self.submit("/account", {}, action="/logout")

    def approve(self, uid: str, groups: list[str]) -> Answer:
        return self.submit("/admin/requests", {"groups": groups}, action=f"/admin/requests/{uid}/approve")

    def job_for(self, kind: str, uid: str) -> int:
        """The newest job of this kind for uid, as the Jobs page lists it."""
        page = self.site.get("/admin/jobs")
        assert page.status == 200, page.status
        found = [int(job) for job, job_kind, targets in JOB_LINK.findall(page.text)
                 if job_kind == kind and uid in targets.split(", ")]
        assert found, f"no {kind} job for {uid} on the Jobs page"
        return max(found)

    def finished_job(self, job: int, timeout: float = 300) -> dict:
        """The job's state and results once the worker has finished it."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.site.get(f"/admin/jobs/{job}.json")
            assert answer.status == 200, answer.status
            progress = json.loads(answer.body)
            if progress["finished"]:
                return progress
            assert time.monotonic() < deadline, f"job {job} unfinished after {timeout} s: {progress}"
            time.sleep(2)


def sysadmin_made_on(deployment, uid: str) -> PortalBrowser:
    """A sysadmin made with the documented command on the deployed host, logged in after setting
    up two-step login; the browser keeps the password (`.password`) and the authenticator."""
    password = secrets.token_urlsafe(24)
    created = deployment.provisioner("create-admin", uid, f"{uid}@example.org", input=f"{password}\n")
    assert created.returncode == 0, created.stderr
    browser = PortalBrowser(deployment.site("portal_hostname"))
    answer = browser.enter_password(uid, password)
    assert answer.status == 302 and answer.location.startswith(ENROL), answer.location
    assert browser.enrol_totp().status == 200
    browser.password = password
    return browser


def approved_volunteer(deployment, admin: PortalBrowser, mail_sink, uid: str, groups: list[str]) -> dict:
    """uid registers on the deployed portal (as uid@example.org), follows the mailed link, admin
    approves her into groups and the deployed worker runs the grant: the job as the Jobs page
    shows it once finished, with its number under "job"."""
    volunteer = PortalBrowser(deployment.site("portal_hostname"))
    mail = f"{uid}@example.org"
    answer = volunteer.register(registration(uid=uid, mail=mail, groups=groups))
    assert answer.status == 302, answer.text
    deadline = time.monotonic() + 60
    while not mail_sink.messages(mail):
        assert time.monotonic() < deadline, f"no mail to {mail} after 60 s"
        time.sleep(0.5)
    assert volunteer.confirm(mail_sink.link_in(mail)).status == 200
    assert admin.approve(uid, groups).status == 302
    job = admin.job_for("grant", uid)
    return {"job": job, **admin.finished_job(job)}
