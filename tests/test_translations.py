"""The portal in Spanish: chosen by the browser, the switcher or the person's entry, in pages
and in mails (the portal's and the timers'), on the real slapd and SMTP sink; and a Spanish
catalogue that translates every message the code and the templates mark."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from provisioner.cli import cli
from provisioner.clock import utc_now
from provisioner.web.access import MODULE_DETAILS

from job_helpers import add_volunteers
from portal_actions import VOLUNTEER_PASSWORD, Visitor, registration

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted(ROOT.glob("provisioner/translations/*/LC_MESSAGES/messages.po"))
SPANISH = ROOT / "provisioner/translations/es/LC_MESSAGES/messages.po"


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def switch_language(visitor: Visitor, language: str, back_to: str):
    return visitor.submit(back_to, {"language": language, "next": back_to}, action="/language")


def test_a_volunteer_registers_verifies_and_is_welcomed_in_spanish(visitor, sysadmin, inbox, directory):
    first = page(visitor.client.get("/register", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}))
    assert '<html lang="es">' in first and "Regístrate como voluntaria o voluntario" in first
    for spanish in ("Nombre de usuario", "Cocina", "Una tarea concreta"):
        assert spanish in first
    assert page(visitor.client.get("/register")).count("Register as a volunteer") == 1  # no cookie yet

    switched = switch_language(visitor, "es", "/register")
    assert switched.status_code == 302 and switched.location == "/register"
    refused = page(visitor.register(password_again="something else entirely"))
    assert "las dos contraseñas no coinciden" in refused
    assert "Hay un problema" in refused and "<title>Error: " in refused

    assert visitor.register().status_code == 302
    assert "Revisa tu correo" in page(visitor.client.get("/register/sent"))
    assert directory.people.get("vera").language == "es"          # kept on the request
    mail = inbox.only_message("vera@example.org")
    assert mail["Subject"].startswith("Confirma tu dirección de correo")
    body = mail.get_content()
    assert body.startswith("Hola, Vera Volunteer:") and "48 horas" in body
    confirmed = visitor.confirm(inbox.link_in("vera@example.org"))
    assert "Gracias: tu dirección está confirmada" in page(confirmed)

    inbox.clear()
    assert sysadmin.approve("vera", ["kitchen"]).status_code == 302
    assert directory.people.get("vera").language == "es"          # moved with the account
    welcome = inbox.only_message("vera@example.org")
    assert welcome["Subject"].startswith("Te damos la bienvenida")
    assert "  - Cocina" in welcome.get_content()

    # Another browser, English by its header: the account's language wins once logged in.
    elsewhere = Visitor(visitor.client.application.test_client())
    assert "Log in" in page(elsewhere.client.get("/login", headers={"Accept-Language": "en"}))
    assert elsewhere.log_in("vera", VOLUNTEER_PASSWORD).status_code == 302
    account = page(elsewhere.client.get("/account", headers={"Accept-Language": "en"}))
    assert "Mi cuenta" in account and "Cambia tu contraseña" in account and "Cocina" in account


def test_switching_while_logged_in_is_saved_and_the_expire_timer_mails_in_it(app, directory, inbox):
    add_volunteers(directory, 1, prefix="vera")
    directory.people.set_password("vera0000", VOLUNTEER_PASSWORD)
    vera = Visitor(app.test_client())
    assert vera.log_in("vera0000", VOLUNTEER_PASSWORD).status_code == 302
    assert directory.people.get("vera0000").language is None
    assert switch_language(vera, "es", "/account").location == "/account"
    assert directory.people.get("vera0000").language == "es"
    assert "Mi cuenta" in page(vera.client.get("/account"))

    end = utc_now().date() + timedelta(days=2)
    directory.people.set_end_date("vera0000", end)
    result = app.test_cli_runner().invoke(cli, ["expire"])
    assert result.exit_code == 0, result.output
    (reminder,) = inbox.messages("vera0000@example.org")
    spanish_day = f"{end.day} de "
    assert reminder["Subject"].startswith("Tu cuenta en ") and spanish_day in reminder["Subject"]
    assert "(dentro de 2 días)" in reminder.get_content()


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\\evil.example",
                                    "http:/evil.example", "javascript:alert(1)", "evil.example", ""])
def test_the_switcher_goes_back_only_to_a_page_of_the_portal(visitor, target):
    response = visitor.submit("/", {"language": "es", "next": target}, action="/language")
    assert response.status_code == 302 and response.location == "/"


def test_the_switcher_keeps_the_page_and_ignores_a_language_without_catalogue(visitor):
    kept = visitor.submit("/", {"language": "es", "next": "/reset?from=menu"}, action="/language")
    assert kept.location == "/reset?from=menu"
    unknown = visitor.submit("/", {"language": "xx", "next": "/"}, action="/language")
    assert not [cookie for cookie in unknown.headers.getlist("Set-Cookie") if cookie.startswith("language=")]
    assert "¿Olvidaste tu contraseña?" in page(visitor.client.get("/"))


def test_anonymous_visitors_are_asked_to_log_in_in_their_language(visitor):
    sent = visitor.client.get("/account", headers={"Accept-Language": "es"})
    assert sent.status_code == 302
    login = page(visitor.client.get(sent.location, headers={"Accept-Language": "es"}))
    assert "Inicia sesión para ver esta página." in login


def test_english_stays_the_default(visitor):
    home = page(visitor.client.get("/", headers={"Accept-Language": "de, fr;q=0.8"}))
    assert '<html lang="en">' in home and "Register as a volunteer" in home
    assert 'value="es"' in home and ">Español<" in home


@pytest.mark.parametrize("catalogue_path", CATALOGUES, ids=lambda path: path.parent.parent.name)
def test_each_catalogue_translates_every_marked_message(catalogue_path):
    """Every message `make translations-extract` finds (the templates, the code's gettext and
    Text, the catalogue's working groups) is in each language's catalogue, translated and not
    fuzzy: Spanish ships complete for what is marked (the sysadmin pages are not yet)."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    extracted = {message if isinstance(message, str) else message[0]
                 for _file, _line, message, _comments, _context in extract_from_dir(
                     str(ROOT), method_map, options_map, keywords={
                         "_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "Text": None})}
    with open(catalogue_path, "rb") as source:
        catalogue = read_po(source)
    missing = sorted(message for message in extracted if message and message not in catalogue)
    assert not missing, f"run make translations-update: not in the catalogue: {missing[:5]}"
    untranslated = [message.id for message in catalogue if message.id and not (
        all(message.string) if isinstance(message.string, tuple) else message.string)]
    fuzzy = [message.id for message in catalogue if message.id and message.fuzzy]
    assert not untranslated and not fuzzy, (untranslated[:5], fuzzy[:5])
    assert len(extracted) > 350


def test_the_module_details_marked_for_translation_are_the_modules_own_words():
    """A module's wording changed without its mark would leave the volunteer's page in English."""
    modules = "".join(path.read_text() for path in (ROOT / "playbooks/library").glob("*.py"))
    assert [detail for detail in MODULE_DETAILS if f'"{detail}"' not in modules] == []


def test_spanish_ships():
    assert SPANISH in CATALOGUES


def test_a_spanish_registration_keeps_the_language_only_from_the_page(visitor, directory):
    """A forged language value is never stored: the request keeps the page's own."""
    visitor.client.post("/language", data={"language": "es", "next": "/",
                                            "csrf_token": visitor.csrf_token("/")})
    assert visitor.submit("/register", registration(language="zz")).status_code == 302
    assert directory.people.get("vera").language == "es"
