"""The settings of accounts' end dates, and the rules of a date someone types.

An account's end date is its last day: `provisioner expire` ends it the day after. The
approver's default comes from the time the volunteer said they give (registration's
AVAILABILITY): a number of days per kind, none for ongoing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from ..languages import Text
from .errors import InvalidInput
from .fields import read_day

DATE_HINT = Text("give a date as YYYY-MM-DD, or leave it empty for none")


def _default_days() -> dict[str, int]:
    return {"hour": 7, "day": 14, "task": 90}


@dataclass(frozen=True)
class TermSettings:
    """END_DATE_DAYS_HOUR/_DAY/_TASK, END_DATE_REMINDER_DAYS, RENEWAL_LINK_DAYS."""

    days_by_availability: dict[str, int] = field(default_factory=_default_days)
    reminder_days: int = 3
    renewal_link_days: int = 30

    def default_end_date(self, availability: str | None, today: date) -> date | None:
        """The approver's default: today plus the days of this availability; None when the
        volunteer gave none or an ongoing one."""
        days = self.days_by_availability.get(availability or "")
        return today + timedelta(days=days) if days is not None else None


def parse_end_date(text: object, *, today: date, field_name: str = "end_date") -> date | None:
    """A typed end date (YYYY-MM-DD, or empty or "none" for none); InvalidInput for anything
    else and for a day already past."""
    if not isinstance(text, str | None):
        raise InvalidInput({field_name: DATE_HINT})
    typed = (text or "").strip()
    if typed.lower() in ("", "none"):
        return None
    day = read_day(typed)
    if day is None:
        raise InvalidInput({field_name: DATE_HINT})
    check_not_past(day, today=today, field_name=field_name)
    return day


def check_not_past(day: date | None, *, today: date, field_name: str = "end_date") -> None:
    """InvalidInput for an end date before today: the account would end at once."""
    if day is not None and day < today:
        raise InvalidInput({field_name: Text("%(day)s is in the past: choose today or a later day",
                                             day=day.isoformat())})
