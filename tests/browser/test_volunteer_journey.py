"""A volunteer's whole way in, in a real browser: register, confirm, approval, first login on
the provisioned account; with JavaScript, without, and in Spanish, mails included. With
JavaScript, every page of the way, and the sysadmin's pages the approval touches, passes
accessibility.py's checks, and each page's `lang` is the language it is in."""

from __future__ import annotations

from collections.abc import Callable

import pyotp
import pytest
from playwright.sync_api import Page, expect

from accessibility import PageChecks, assert_errors_tied_to_fields, assert_focus_visible
from job_helpers import make_worker

VOLUNTEER = {"uid": "vera", "name": "Vera Volunteer", "mail": "vera@example.org",
             "password": "plum tuesday lantern orbit"}
REGISTRATION_FIELDS_REQUIRED = 6  # username, name, email, both passwords, time
# What the volunteer reads, as the Spanish catalogue (messages.po) and the mails say it.
SPANISH = {
    "Skip to main content": "Saltar al contenido principal",
    "Register as a volunteer": "Regístrate como voluntaria o voluntario",
    "Register": "Regístrate",
    "Username": "Nombre de usuario",
    "Your name, as others will see it": "Tu nombre, tal como lo verán las demás personas",
    "Email": "Correo electrónico",
    "Password": "Contraseña",
    "Password again": "Repite la contraseña",
    "Kitchen": "Cocina",
    "Tech": "Tecnología",
    "Skills": "Habilidades",
    "A day": "Un día",
    "A note for the sysadmins": "Una nota para quienes administran el sistema",
    "Check your inbox": "Revisa tu correo",
    "Confirm your email address": "Confirma tu dirección de correo",
    "Hello Vera Volunteer,": "Hola, Vera Volunteer:",
    "48 hours": "48 horas",
    "Confirm my email address": "Confirmar mi dirección de correo",
    "your address is confirmed": "tu dirección está confirmada",
    "Log in": "Inicia sesión",
    "Log out vera": "Cerrar la sesión de vera",
    "Account check": "Comprobación de la cuenta",
    "Done": "Hecho",
    "Not offered": "No disponible",
    "account and working groups in place": "la cuenta y los grupos de trabajo están listos",
    "not offered by this occupation": "esta ocupación no lo ofrece",
    "Welcome": "Te damos la bienvenida",
    'your account "vera" is ready': "tu cuenta «vera» está lista",
}
Words = Callable[[str], str]


def words(language: str) -> Words:
    """The volunteer's words in `language`, from their English."""
    return SPANISH.__getitem__ if language == "es" else str


class NoChecks:
    """Without JavaScript axe-core cannot run: the journey itself is the test."""

    def check(self) -> None:
        pass

    def assert_titles_distinct(self) -> None:
        pass


def log_in(page: Page, uid: str, password: str, pages: PageChecks | NoChecks, say: Words = str) -> None:
    page.get_by_role("link", name=say("Log in")).click()
    pages.check()
    page.get_by_label(say("Username")).fill(uid)
    page.get_by_label(say("Password"), exact=True).fill(password)
    page.get_by_role("button", name=say("Log in")).click()


# The portal's Content-Security-Policy refuses inline scripts, axe-core's injection among them.
# The volunteer's browser asks for the language (Accept-Language); the sysadmin's is English.
@pytest.mark.parametrize(("context_options", "language"), [
    ({"bypass_csp": True}, "en"), ({"java_script_enabled": False}, "en"),
    ({"bypass_csp": True, "locale": "es-ES"}, "es")], ids=["javascript", "no-javascript", "spanish"])
def test_a_volunteer_registers_is_approved_and_logs_in(live_portal, page, sysadmin_page, inbox,
                                                       directory, context_options, language):
    uid, mail, password = VOLUNTEER["uid"], VOLUNTEER["mail"], VOLUNTEER["password"]
    say = words(language)
    javascript = context_options.get("java_script_enabled", True)
    pages = PageChecks(page, language) if javascript else NoChecks()
    page.goto(live_portal.url)
    assert_focus_visible(page, say("Skip to main content"))
    pages.check()
    page.get_by_role("link", name=say("Register as a volunteer")).click()
    pages.check()
    page.get_by_role("button", name=say("Register")).click()
    if javascript:
        assert_errors_tied_to_fields(page, REGISTRATION_FIELDS_REQUIRED)
    pages.check()
    page.get_by_label(say("Username")).fill(uid)
    page.get_by_label(say("Your name, as others will see it")).fill(VOLUNTEER["name"])
    page.get_by_label(say("Email")).fill(mail)
    page.get_by_label(say("Password"), exact=True).fill(password)
    page.get_by_label(say("Password again")).fill(password)
    page.get_by_label(say("Kitchen"), exact=True).check()
    page.get_by_label(say("Tech"), exact=True).check()
    page.get_by_label(say("Skills")).fill("cooking, first aid")
    page.get_by_label(say("A day"), exact=True).check()
    page.get_by_label(say("A note for the sysadmins")).fill("Free on weekends")
    page.get_by_role("button", name=say("Register")).click()
    expect(page.get_by_role("heading", name=say("Check your inbox"))).to_be_visible()
    pages.check()

    verification = inbox.only_message(mail)
    assert verification["Subject"].startswith(say("Confirm your email address"))
    body = verification.get_content()
    assert body.startswith(say("Hello Vera Volunteer,")) and say("48 hours") in body
    page.goto(inbox.link_in(mail))
    pages.check()
    page.get_by_role("button", name=say("Confirm my email address")).click()
    expect(page.get_by_role("heading", name=say("your address is confirmed"))).to_be_visible()
    pages.check()

    # The sysadmin approves from their own browser, in English.
    admin = sysadmin_page
    admin_pages = PageChecks(admin) if javascript else NoChecks()
    sysadmin = live_portal.sysadmin
    admin.goto(live_portal.url)
    log_in(admin, sysadmin.uid, sysadmin.password, admin_pages)
    # Sysadmins must use two-step login: the first login leads to its set-up.
    expect(admin.get_by_role("heading", name="Set up two-step login")).to_be_visible()
    admin_pages.check()
    expect(admin.get_by_role("img", name="QR code holding the key shown below")).to_be_visible()
    key = admin.locator("#totp-key").inner_text().replace(" ", "")
    admin.get_by_label("Code").fill(pyotp.TOTP(key).now())
    admin.get_by_role("button", name="Confirm").click()
    expect(admin.get_by_role("heading", name="Two-step login is on")).to_be_visible()
    expect(admin.locator("ol.recovery-codes li")).to_have_count(10)
    admin_pages.check()
    admin.get_by_role("link", name="I have kept my recovery codes: continue").click()
    admin_pages.check()
    admin.get_by_role("link", name="Requests", exact=True).click()
    request = admin.locator(f"#request-{uid}")  # one row; its details open on demand
    request.locator("summary").click()
    admin_pages.check()
    expect(request).to_contain_text(mail)
    expect(request.get_by_label("Kitchen", exact=True)).to_be_checked()
    expect(request.get_by_label("Tech", exact=True)).to_be_checked()
    request.get_by_role("button", name=f"Approve {uid}").click()
    expect(admin.get_by_role("status")).to_have_text(f"{uid} is approved.")
    expect(admin.locator("tr[id^=request-]")).to_have_count(0)
    admin_pages.check()

    # The sysadmin's pages about what the approval did: each passes the checks.
    admin.get_by_role("link", name="Jobs", exact=True).click()
    admin_pages.check()
    admin.get_by_role("link", name="#1").click()
    expect(admin.locator("#job-state")).to_have_attribute("aria-live", "polite")
    admin_pages.check()
    for name in ("Dashboard", "Coordinators", "Audit log"):
        admin.get_by_role("link", name=name, exact=True).click()
        admin_pages.check()
    admin.get_by_role("link", name="My account").click()
    admin.get_by_role("link", name="Two-step login").click()
    admin_pages.check()
    admin.get_by_role("button", name=f"Log out {sysadmin.uid}").click()
    expect(admin.get_by_role("status")).to_have_text("You are logged out.")

    (welcome,) = [m for m in inbox.messages(mail) if m["Subject"].startswith(say("Welcome"))]
    assert say(f'your account "{uid}" is ready') in welcome.get_content()
    assert make_worker(live_portal.app, directory).run_once() == 1   # no service offered here
    log_in(page, uid, password, pages, say)
    expect(page.get_by_role("heading", name=VOLUNTEER["name"])).to_be_visible()
    pages.check()
    groups = page.get_by_role("list").filter(has_text=say("Kitchen")).get_by_role("listitem")
    expect(groups).to_have_text([say("Kitchen"), say("Tech")])
    services = page.get_by_role("table").get_by_role("row")
    account_check = services.filter(has_text=say("Account check"))
    expect(account_check).to_contain_text(say("Done"))
    expect(account_check).to_contain_text(say("account and working groups in place"))
    not_offered = services.filter(has_text=say("Not offered"))  # lists, wiki and Redmine
    expect(not_offered).to_contain_text([say("not offered by this occupation")] * 3)
    page.get_by_role("button", name=say("Log out vera")).click()

    # The sysadmin's second login asks for the code, on a page of its own title.
    log_in(admin, sysadmin.uid, sysadmin.password, admin_pages)
    expect(admin.get_by_role("heading", name="Two-step login")).to_be_visible()
    admin_pages.check()
    pages.assert_titles_distinct()
    admin_pages.assert_titles_distinct()
