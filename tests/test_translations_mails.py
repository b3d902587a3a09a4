"""The mails to coordinators and sysadmins in their language: why they get the mail, and a
renewal's last day, are sentences of the catalogue, never English words put in a Spanish mail.
Composed only: no mail server is needed."""

from __future__ import annotations

from datetime import date

import pytest

from provisioner.mail import Mailer

MAILER = Mailer(host="127.0.0.1", port=9, sender="portal@example.org", organisation="Occupy Test")
REQUEST = {"display_name": "Cora", "requester_name": "Vera Volunteer", "requester_uid": "vera",
           "link": "http://localhost/groups/requests"}


def body(template: str, language: str, **context: object) -> str:
    return MAILER.compose("cora@example.org", template, language=language, **context).get_content()


@pytest.mark.parametrize("coordinated, spanish, english", [
    ("Kitchen", "Recibes este correo porque coordinas Cocina.",
     "You get this mail as a coordinator of Kitchen."),
    (None, "Recibes este correo porque administras el sistema.", "You get this mail as a sysadmin."),
])
def test_a_join_request_says_why_its_reader_gets_it(coordinated, spanish, english):
    context = {**REQUEST, "group": "Kitchen", "coordinated": coordinated}
    in_spanish = body("join_request", "es", **context)
    assert "pide unirse al grupo de trabajo\nCocina en Occupy Test." in in_spanish and spanish in in_spanish
    assert english in body("join_request", "en", **context)


@pytest.mark.parametrize("expired, spanish, english", [
    (False, "que termina el 31 de diciembre de 2026.", "which ends on 2026-12-31."),
    (True, "que terminó después del 31 de diciembre de 2026.", "which ended after 2026-12-31."),
])
def test_a_renewal_request_gives_the_last_day_in_the_readers_language(expired, spanish, english):
    context = {**REQUEST, "end_date": date(2026, 12, 31), "expired": expired, "coordinated": "Kitchen"}
    in_spanish = body("renewal_request", "es", **context)
    assert spanish in in_spanish and "Recibes este correo porque coordinas Cocina." in in_spanish
    assert english in body("renewal_request", "en", **context)


def test_a_recovery_code_used_from_no_known_address_says_so_in_spanish():
    mail = body("totp_recovery_code_used", "es", display_name="Vera", uid="vera", at="2026-12-01 10:00 UTC",
                remote_addr=None, left=9, totp_link="http://localhost/account/totp")
    assert "Desde una dirección desconocida" in mail and "unknown" not in mail
