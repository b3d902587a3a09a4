"""The language of each page: chosen, remembered, and switched without JavaScript.

The order: the logged-in person's `preferredLanguage`, else the cookie the switcher sets,
else the language a page is meant for (an invitation's), else the browser's
`Accept-Language` among the languages with a catalogue, else English.
The one module that imports Flask-Babel: it ships no type information, so the names the
views use are typed here once.
"""

from __future__ import annotations

from collections.abc import Callable

import flask_babel  # type: ignore[import-untyped]  # no py.typed marker, no stubs
from babel import Locale
from flask import Blueprint, Flask, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from .. import languages
from ..resources import get_portal
from ..workflow import set_language
from .security import safe_next
from .users import current_user

COOKIE = "language"
COOKIE_DAYS = 365
LONGEST_WAY_BACK = 512  # a longer path (a flood typed into the URL) is not repeated: home instead

blueprint = Blueprint("language", __name__)

gettext: Callable[..., str] = flask_babel.gettext
# A text translated when shown (form labels, made once at import): a str to WTForms.
lazy_gettext: Callable[..., str] = flask_babel.lazy_gettext


def format_number(number: int) -> str:
    """A count as the page's language writes it (1,234 in English, 1.234 in Spanish)."""
    formatted: str = flask_babel.format_decimal(number)
    return formatted


def get_locale() -> Locale | None:
    locale: Locale | None = flask_babel.get_locale()
    return locale


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(languages.TRANSLATIONS))
    flask_babel.Babel(app, locale_selector=page_language)
    # Whitespace inside {% trans %} collapses to one space, as babel.cfg extracts it.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals.update(languages=languages.available, language_name=languages.own_name,
                                 page_language=page_language_code, way_back=way_back)
    app.jinja_env.filters["translated"] = catalogue_text
    app.jinja_env.filters["shown"] = shown
    app.jinja_env.filters["day"] = lambda value: languages.day(value, page_language_code())
    app.jinja_env.filters["short_day"] = lambda value: languages.short_day(value, page_language_code())
    app.jinja_env.filters["moment"] = lambda value, seconds=False: languages.moment(
        value, page_language_code(), seconds=seconds)
    app.jinja_env.filters["number"] = format_number
    app.register_blueprint(blueprint)


def page_language_code() -> str:
    """The language this page is in (chosen once a request by `page_language`)."""
    return str(get_locale() or languages.SOURCE_LANGUAGE)


def page_language() -> str:
    if current_user.is_authenticated and (saved := languages.known(current_user.person.language)):
        return saved
    browser: str | None = request.accept_languages.best_match(languages.available())
    return (languages.known(request.cookies.get(COOKIE)) or g.get("meant_language") or browser
            or languages.SOURCE_LANGUAGE)


def open_in(language: str | None) -> None:
    """This page is meant for `language` (an invitation's, chosen by its inviter): it wins
    over the browser's, not over a language the visitor picked or saved."""
    g.meant_language = languages.known(language)
    flask_babel.refresh()  # the page's language may have been chosen already this request


def way_back() -> str | None:
    """The page the switcher goes back to after switching: this one's path, when it is short.

    Never its query: a page must not repeat what someone typed into a filter it refused.
    """
    return safe_next(request.path) if len(request.path) <= LONGEST_WAY_BACK else None


def shown(said: object) -> str:
    """What the workflow said (a refusal, an error's message) in the page's language: a
    `Text` or a fixed English message the catalogue translates; anything else as it is."""
    if isinstance(said, BaseException):
        said = languages.said_by(said)
    if isinstance(said, languages.Text):
        return said.translated(gettext, page_language_code())
    return gettext(said) if isinstance(said, str) and said else str(said)


def catalogue_text(text: str | None) -> str:
    """A working group's or team's name or description in the page's language, when the
    catalogue's messages translate it (a team created in the portal keeps its own words)."""
    return gettext(text) if text else ""


@blueprint.post("/language")
def switch() -> ResponseReturnValue:
    """Remember the language in a cookie (and, for a logged-in person, in their entry), then
    go back to the page the switcher was on; a target off this site goes to the home page."""
    chosen = languages.known(request.form.get("language"))
    response = redirect(safe_next(request.form.get("next")) or url_for("public.index"))
    if chosen is None:
        return response
    response.set_cookie(COOKIE, chosen, max_age=COOKIE_DAYS * 86400, samesite="Lax", httponly=True,
                        secure=current_app.config["SECURE_COOKIES"])
    if current_user.is_authenticated:
        set_language(get_portal(), current_user.person, chosen)
    return response
