"""The abuse limits' refusals and the password check's reasons in the page's language: the
wait in its own words ("15 minutos"), each of zxcvbn's sentences from the catalogue, and
never an English sentence on a Spanish page."""

from __future__ import annotations

import ast
import html
import inspect
from datetime import timedelta

import pytest
import zxcvbn.feedback

from provisioner import languages
from provisioner.languages import Text
from provisioner.passwords import ADVICE, ZXCVBN_FEEDBACK, guessability_refusal

from job_helpers import add_volunteers
from portal_actions import VOLUNTEER_PASSWORD, Visitor


def in_spanish(text: Text) -> str:
    return text.translated(languages.translations("es").gettext, "es")


def spanish_page(visitor: Visitor) -> Visitor:
    """The visitor, having picked Spanish with the switcher."""
    assert visitor.submit("/", {"language": "es", "next": "/"}, action="/language").status_code == 302
    return visitor


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def zxcvbn_sentences() -> set[str]:
    """Every sentence zxcvbn's feedback can say: the messages its feedback module marks."""
    tree = ast.parse(inspect.getsource(zxcvbn.feedback))
    return {node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id == "_"
            and isinstance(node.args[0], ast.Constant)}


@pytest.mark.parametrize("seconds, language, written", [
    (0.2, "en", "1 second"), (30, "en", "30 seconds"), (59.5, "en", "1 minute"), (61, "en", "2 minutes"),
    (900, "en", "15 minutes"), (1, "es", "1 segundo"), (30, "es", "30 segundos"), (900, "es", "15 minutos"),
    (3600, "es", "60 minutos"),
])
def test_a_wait_is_written_in_the_language_and_never_shorter_than_it_is(seconds, language, written):
    assert languages.duration(timedelta(seconds=seconds), language) == written


def test_a_wait_in_a_refusal_is_english_in_the_code_and_spanish_on_a_spanish_page():
    refusal = Text("Too many failed attempts from your network; try again in %(wait)s.",
                   wait=timedelta(seconds=90))
    assert refusal == "Too many failed attempts from your network; try again in 2 minutes."
    assert in_spanish(refusal) == ("Demasiados intentos fallidos desde tu red; vuelve a intentarlo "
                                   "en 2 minutos.")


def test_every_sentence_zxcvbn_can_say_is_a_message_with_its_spanish():
    sentences = zxcvbn_sentences()
    assert len(sentences) > 20
    assert sorted(sentences - ZXCVBN_FEEDBACK.keys()) == []
    spanish = languages.translations("es").gettext
    assert [sentence for sentence in sentences if spanish(sentence) == sentence] == []


def test_a_sentence_of_a_newer_zxcvbn_gives_the_general_advice_never_its_english():
    refusal = guessability_refusal("Keyboard smashes are guessed first.", ["Smash less."])
    assert refusal == f"this password is too easy to guess. {ADVICE}"
    spanish = in_spanish(refusal)
    assert spanish.startswith("esta contraseña es demasiado fácil de adivinar. Usa cuatro o más palabras")
    assert "smash" not in spanish.lower()


def test_a_known_warning_and_advice_are_both_translated():
    refusal = guessability_refusal("This is a very common password.",
                                   ["Add another word or two. Uncommon words are better."])
    assert refusal == ("this password is too easy to guess. This is a very common password. "
                       "Add another word or two. Uncommon words are better.")
    assert in_spanish(refusal) == ("esta contraseña es demasiado fácil de adivinar. Es una contraseña muy "
                                   "común. Añade una o dos palabras más; mejor si son poco comunes.")


def test_a_refused_weak_password_says_why_in_spanish(visitor, inbox):
    refused = spanish_page(visitor).register(password="password1234", password_again="password1234")
    assert refused.status_code == 400
    text = page(refused)
    assert ("esta contraseña es demasiado fácil de adivinar. Es una contraseña muy común. "
            "Añade una o dos palabras más; mejor si son poco comunes.") in text
    assert "too easy" not in text and "common password" not in text
    assert inbox.messages() == []


def test_a_locked_login_says_how_long_to_wait_in_spanish(app, directory, visitor):
    add_volunteers(directory, 1, prefix="vera")
    directory.people.set_password("vera0000", VOLUNTEER_PASSWORD)
    spanish_page(visitor)
    for _ in range(10):
        wrong = visitor.enter_password("vera0000", "wrong guess")
        assert wrong.status_code == 401 and "Nombre de usuario o contraseña incorrectos" in page(wrong)
    refused = visitor.enter_password("vera0000", VOLUNTEER_PASSWORD)
    assert refused.status_code == 429 and 840 < int(refused.headers["Retry-After"]) <= 900
    text = page(refused)
    assert "Demasiados intentos; vuelve a intentarlo en 15 minutos." in text
    assert "Too many" not in text and "try again" not in text
