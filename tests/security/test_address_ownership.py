"""An address belongs to whoever can read its mail: a request nobody verified holds nothing.

The attack: mallory registers first with vera's address. Vera must still be able to
register with it, her own link must win, and mallory's request must go.
"""

from __future__ import annotations

from portal_actions import Visitor


def links_to(inbox, mail: str) -> dict[str, str]:
    """The verification links sent to `mail`, by the username each mail names."""
    found = {}
    for message in inbox.messages(mail):
        body = message.get_content()
        uid = body.split('with the username\n"', 1)[1].split('"', 1)[0]
        found[uid] = next(line.strip() for line in body.splitlines() if "/verify/" in line)
    return found


def test_the_owner_registers_although_someone_else_used_the_address_first(app, inbox, directory):
    mallory, vera = Visitor(app.test_client()), Visitor(app.test_client())
    mallory.register(uid="mallory", mail="vera@example.org", display_name="Not Vera")
    assert vera.register(uid="vera", mail="vera@example.org").status_code == 302
    assert directory.people.find("vera") is not None and directory.people.find("mallory") is not None
    links = links_to(inbox, "vera@example.org")
    assert set(links) == {"mallory", "vera"}  # each mail names the username it would confirm

    assert vera.confirm(links["vera"]).status_code == 200
    assert directory.people.get("vera").status == "verified"
    assert directory.people.find("mallory") is None  # the address's owner did not choose it
    refused = mallory.confirm(links["mallory"])
    assert refused.status_code == 400 and "no longer matches" in refused.get_data(as_text=True)


def test_a_confirmed_address_is_no_longer_open_to_others(app, inbox, directory):
    vera, mallory = Visitor(app.test_client()), Visitor(app.test_client())
    vera.register(uid="vera", mail="vera@example.org")
    vera.confirm(links_to(inbox, "vera@example.org")["vera"])
    inbox.clear()
    assert mallory.register(uid="mallory", mail="Vera@Example.org").status_code == 302
    assert directory.people.find("mallory") is None
    told = inbox.only_message("Vera@Example.org").get_content()
    assert '"vera"' in told and "/reset" in told


def test_confirming_the_other_request_first_leaves_the_later_link_refused(app, inbox, directory):
    """Whichever request the owner confirms is theirs; the other is removed, its link dead."""
    first, second = Visitor(app.test_client()), Visitor(app.test_client())
    first.register(uid="vera", mail="vera@example.org")
    second.register(uid="verena", mail="vera@example.org")
    links = links_to(inbox, "vera@example.org")
    assert second.confirm(links["verena"]).status_code == 200
    assert first.confirm(links["vera"]).status_code == 400
    assert directory.people.find("vera") is None
    assert directory.people.get("verena").status == "verified"


def test_the_verification_mail_says_what_to_do_when_it_was_not_you(app, inbox, directory):
    Visitor(app.test_client()).register(uid="mallory", mail="vera@example.org")
    body = inbox.only_message("vera@example.org").get_content()
    assert '"mallory"' in body
    assert "is not the username you chose" in body and "register with this address yourself" in body
