"""The geometry of the dashboard's small SVG charts, drawn by the server (no JavaScript):
the templates place what these functions measure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

BAR_LENGTH = 200        # the longest horizontal bar, in SVG units
COLUMN_HEIGHT = 80      # the tallest column of the days' chart


@dataclass(frozen=True)
class Bar:
    label: str          # English (a Text): the template shows it translated, its class in English
    value: int
    length: float       # in SVG units, proportional to value against the chart's whole


def bars(values: Sequence[tuple[str, int]], whole: int) -> list[Bar]:
    """One horizontal bar per (label, value), each as long as its share of `whole`."""
    scale = BAR_LENGTH / max(whole, *(value for _, value in values), 1)
    return [Bar(label, value, round(value * scale, 1)) for label, value in values]


@dataclass(frozen=True)
class Column:
    day: date
    low: int            # drawn from the bottom (the jobs that succeeded)
    high: int           # stacked on it (the jobs that failed)
    low_height: float
    high_height: float


def columns(values: Sequence[tuple[date, int, int]]) -> list[Column]:
    """One stacked column per (day, low, high), the tallest COLUMN_HEIGHT high; the template
    writes the days in the page's language."""
    scale = COLUMN_HEIGHT / max(max((low + high for _, low, high in values), default=0), 1)
    return [Column(day, low, high, round(low * scale, 1), round(high * scale, 1))
            for day, low, high in values]
