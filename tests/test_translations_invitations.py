"""The coordinator's pages and invitations in Spanish: a coordinator working in Spanish
decides and invites in it, and an invitation goes out, opens and makes its account in the
language its inviter chose (the web form, the command line, a sign-up sheet). Real slapd,
store and SMTP sink; the portal through Flask's test client."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa

from provisioner.cli import cli
from provisioner.directory import NewPerson, Status
from provisioner.resources import get_portal, get_store
from provisioner.store.schema import invitations
from provisioner.workflow import request_to_join

from portal_actions import VOLUNTEER_PASSWORD, Visitor, given_totp

PAGE = "/invitations"
PASSWORD = "marigold kettle harbour sunrise"
ENGLISH_BROWSER = {"Accept-Language": "en"}


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def active_account(directory, uid: str, *, language: str | None = None, groups=()) -> None:
    directory.people.add(NewPerson(uid=uid, display_name=f"{uid.title()} Person", mail=f"{uid}@example.org",
                                   status=Status.ACTIVE, language=language), pending=False)
    directory.people.set_password(uid, VOLUNTEER_PASSWORD)
    for slug in groups:
        directory.groups.add_member(f"wg-{slug}", uid)


def spanish_coordinator(app, directory) -> Visitor:
    """cora, coordinator of the kitchen, whose entry says Spanish, logged in from an English browser."""
    active_account(directory, "cora", language="es", groups=["kitchen"])
    directory.groups.add_owner("wg-kitchen", "cora")
    given_totp(app, "cora")
    cora = Visitor(app.test_client())
    assert cora.log_in("cora", VOLUNTEER_PASSWORD).status_code == 302
    return cora


def invitation_languages(app) -> list[tuple[str, str | None]]:
    with app.app_context(), get_store().begin() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(invitations.c.mail, invitations.c.language).order_by(invitations.c.id))]


def path_of(link: str) -> str:
    return link.removeprefix("http://localhost")


def accept(client, link: str, uid: str = "ines"):
    invitee = Visitor(client)
    return invitee.submit(path_of(link), {"uid": uid, "display_name": "Ines Invited", "password": PASSWORD,
                                          "password_again": PASSWORD})


def test_a_coordinator_working_in_spanish_decides_and_invites_in_spanish(app, directory, inbox):
    cora = spanish_coordinator(app, directory)
    active_account(directory, "vera")
    with app.test_request_context():
        request_to_join(get_portal(), "vera", "kitchen")

    decisions = page(cora.client.get("/groups/requests", headers=ENGLISH_BROWSER))
    assert '<html lang="es">' in decisions
    for spanish in ("Solicitudes para unirse a tus grupos de trabajo",
                    "Vera Person (vera) pide unirse a Cocina", "Aprobar: añadir a vera a Cocina",
                    "Solicitudes para renovar una cuenta"):
        assert spanish in decisions
    approve = "/groups/requests/1/approve"
    approved = cora.submit("/groups/requests", {}, action=approve)
    assert approved.status_code == 302
    assert "vera ya está en Cocina" in page(cora.client.get("/groups/requests"))
    cora.submit("/groups/requests", {}, action=approve)
    again = page(cora.client.get("/groups/requests"))
    assert "No se ha aprobado: La solicitud de vera para unirse a kitchen ya se aprobó" in again

    mine = page(cora.client.get("/account/groups"))
    assert "Mis grupos de trabajo" in mine and "Crear un equipo en Cocina" in mine

    form = page(cora.client.get(PAGE))
    for spanish in ("Invitaciones", "Enviar la invitación", "Idioma de la invitación", "Grupos de trabajo"):
        assert spanish in form
    assert re.search(r'<option selected value="es">Español</option>', form)  # the page's language
    sent = cora.submit(PAGE, {"mail": "otto@example.org", "groups": ["kitchen"]})   # as the form is
    assert sent.status_code == 302
    listed = page(cora.client.get(PAGE))
    assert "Se ha enviado la invitación 1 a otto@example.org." in listed
    assert "abierta hasta el" in listed and "Español" in listed
    assert invitation_languages(app) == [("otto@example.org", "es")]
    assert inbox.only_message("otto@example.org")["Subject"].startswith("Te invitan a")


def test_an_invitation_in_spanish_arrives_opens_and_makes_a_spanish_account(app, sysadmin, client, directory,
                                                                            inbox):
    sent = sysadmin.submit(PAGE, {"mail": "ines@example.org", "groups": ["kitchen"], "language": "es"})
    assert sent.status_code == 302
    assert "Invitation 1 is sent to ines@example.org." in page(sysadmin.client.get(PAGE))  # sam reads English
    mail = inbox.only_message("ines@example.org")
    assert mail["Subject"].startswith("Te invitan a")
    body = mail.get_content()
    assert "Sam Admin te invita a unirte a" in body and "  - Cocina" in body
    link = inbox.link_in("ines@example.org")

    opened = page(client.get(path_of(link), headers=ENGLISH_BROWSER))   # no cookie: the invitation's
    assert '<html lang="es">' in opened and "Acepta tu invitación" in opened and "Crear mi cuenta" in opened
    inbox.clear()
    assert accept(client, link).status_code == 302
    assert directory.people.get("ines").language == "es"
    welcome = inbox.only_message("ines@example.org")
    assert welcome["Subject"].startswith("Te damos la bienvenida")


def test_a_language_picked_with_the_switcher_wins_over_the_invitations(app, sysadmin, client, directory,
                                                                         inbox):
    sysadmin.submit(PAGE, {"mail": "ines@example.org", "groups": ["kitchen"], "language": "es"})
    link = inbox.link_in("ines@example.org")
    visitor = Visitor(client)
    visitor.submit("/", {"language": "en", "next": "/"}, action="/language")
    opened = page(client.get(path_of(link)))
    assert '<html lang="en">' in opened and "Accept your invitation" in opened
    assert accept(client, link).status_code == 302
    assert directory.people.get("ines").language == "en"


def test_a_language_without_catalogue_is_refused_and_nothing_is_sent(app, sysadmin, directory, inbox):
    cora = spanish_coordinator(app, directory)
    refused = cora.submit(PAGE, {"mail": "ines@example.org", "groups": ["kitchen"], "language": "zz"})
    assert refused.status_code == 400
    assert "elige uno de los idiomas disponibles: en, es" in page(refused)
    english = sysadmin.submit(PAGE, {"mail": "ines@example.org", "groups": ["kitchen"], "language": "fr"})
    assert english.status_code == 400
    assert "choose one of the languages offered: en, es" in page(english)
    assert invitation_languages(app) == [] and inbox.messages() == []


def test_the_command_line_invites_in_the_language_asked(app, directory, inbox, tmp_path):
    runner = app.test_cli_runner()
    refused = runner.invoke(cli, ["invite", "ines@example.org", "--group", "kitchen", "--language", "zz"])
    assert refused.exit_code == 1 and "choose one of the languages offered: en, es" in refused.output
    assert invitation_languages(app) == []

    done = runner.invoke(cli, ["invite", "ines@example.org", "--group", "kitchen", "--language", "es"])
    assert done.exit_code == 0, done.output
    body = inbox.only_message("ines@example.org").get_content()
    assert "Quienes administran el sistema de" in body and "  - Cocina" in body  # no inviter: the sysadmins
    english = runner.invoke(cli, ["invite", "otto@example.org", "--group", "kitchen"])
    assert english.exit_code == 0, english.output
    assert "The sysadmins of" in inbox.only_message("otto@example.org").get_content()

    sheet = tmp_path / "sheet.csv"
    sheet.write_text("name,email,groups\nUna Person,una@example.org,kitchen\n")
    refused_sheet = runner.invoke(cli, ["import", str(sheet), "--language", "zz"])
    assert refused_sheet.exit_code == 1 and "choose one of the languages offered" in refused_sheet.output
    imported = runner.invoke(cli, ["import", str(sheet), "--language", "es"])
    assert imported.exit_code == 0, imported.output
    assert inbox.only_message("una@example.org")["Subject"].startswith("Te invitan a")
    assert invitation_languages(app) == [("ines@example.org", "es"), ("otto@example.org", "en"),
                                         ("una@example.org", "es")]
