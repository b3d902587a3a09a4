"""The languages the portal speaks: English, the source of every text, and each language
with a compiled catalogue under `translations/` (so an occupation adds one by dropping its
catalogue in). Flask-free: the mails of the worker and the timers are translated here too."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from babel.support import NullTranslations, Translations
from babel.units import format_unit

TRANSLATIONS = Path(__file__).parent / "translations"
SOURCE_LANGUAGE = "en"


@cache
def available() -> tuple[str, ...]:
    """English first, then every language whose catalogue is compiled, by code."""
    compiled = sorted(path.parent.parent.name for path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.mo"))
    return (SOURCE_LANGUAGE, *(code for code in compiled if code != SOURCE_LANGUAGE))


def known(language: str | None) -> str | None:
    """The language as the portal knows it (`es`, `pt_BR`), or None when it has no catalogue."""
    if not language:
        return None
    wanted = language.strip().replace("-", "_").lower()
    return next((code for code in available() if code.lower() == wanted), None)


def or_source(language: str | None) -> str:
    return known(language) or SOURCE_LANGUAGE


def own_name(language: str) -> str:
    """The language's name in itself ("Español"), for the switcher."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]


def day(value: date, language: str) -> str:
    """A day (of a date or a moment) as the language writes it ("2 de diciembre de 2026");
    English keeps the ISO form (2026-12-02) the portal has always shown, which no reader
    anywhere misreads."""
    if isinstance(value, datetime):
        value = value.date()
    if known(language) in (None, SOURCE_LANGUAGE):
        return value.isoformat()
    return format_date(value, format="long", locale=language)


def duration(wait: timedelta, language: str) -> str:
    """A wait as the language writes it ("5 minutes", "5 minutos"): in seconds under a
    minute, else in minutes, rounded up so that nobody comes back too early."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 60:
        return format_unit(seconds, "duration-second", length="long", locale=language)
    return format_unit(math.ceil(seconds / 60), "duration-minute", length="long", locale=language)


def short_day(value: date, language: str) -> str:
    """A day without its year, for a chart's axis: 12-02 in English, "2 dic" in Spanish."""
    if known(language) in (None, SOURCE_LANGUAGE):
        return value.strftime("%m-%d")
    return format_skeleton("MMMd", value, locale=language)


def moment(value: datetime, language: str, *, seconds: bool = False) -> str:
    """A moment in UTC (the pages say so) as the language writes it ("2 dic 2026, 14:05");
    English keeps the ISO form (2026-12-02 14:05)."""
    if known(language) in (None, SOURCE_LANGUAGE):
        return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    time = format_time(value, "medium" if seconds else "short", tzinfo=UTC, locale=language)
    pattern = str(get_datetime_format("medium", locale=language))   # CLDR's "{1}, {0}": day, time
    return pattern.format(time, format_date(value, "medium", locale=language))


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of a known language; English (or an unknown one) translates nothing."""
    if known(language) in (None, SOURCE_LANGUAGE):
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [language])


class Text(str):
    """An English text made outside Flask (the workflow's refusals) that a page shows in its
    own language: it is the English string, and keeps its message and values for gettext.
    `Text("at most %(count)d characters", count=2000)` reads "at most 2000 characters".
    A value that is a Text is translated with it; a wait (a timedelta) is written in words."""

    msgid: str
    values: dict[str, object]

    def __new__(cls, msgid: str, **values: object) -> Text:
        english = {name: _written(value, SOURCE_LANGUAGE) for name, value in values.items()}
        text = super().__new__(cls, msgid % english if values else msgid)
        text.msgid = msgid
        text.values = values
        return text

    def translated(self, gettext: Callable[[str], str], language: str) -> str:
        """The text in `language`, whose catalogue `gettext` reads."""
        said = gettext(self.msgid)
        if not self.values:
            return said
        return said % {name: value.translated(gettext, language) if isinstance(value, Text)
                       else _written(value, language) for name, value in self.values.items()}


def said_by(error: BaseException) -> str:
    """What an error was raised with: a Text keeps its message and values, so a page shows
    the refusal in its own language."""
    said = error.args[0] if error.args else ""
    return said if isinstance(said, str) else str(error)


def _written(value: object, language: str) -> object:
    return duration(value, language) if isinstance(value, timedelta) else value
