"""Medians with their spread, and the rows of the one table the runner prints."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Spread:
    """The median of several runs, with the lowest and highest."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, its unit, and the target it is held against, if any."""

    part: str
    figure: str
    spread: Spread
    unit: str
    target: str = ""
    met: bool | None = None

    def as_dict(self) -> dict:
        return {**asdict(self), "spread": asdict(self.spread)}


def number(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row]) -> str:
    """Markdown: ratios first (the rows with a unit of ×), as absolute times move with the load."""
    ordered = sorted(rows, key=lambda row: row.unit != "×")
    lines = ["| part | figure | median | min – max | runs | target | met |",
             "| --- | --- | ---: | ---: | ---: | --- | --- |"]
    for row in ordered:
        spread, unit = row.spread, row.unit
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.part} | {row.figure} | {number(spread.median)} {unit} "
                     f"| {number(spread.low)} – {number(spread.high)} | {spread.runs} "
                     f"| {row.target} | {met} |")
    return "\n".join(lines)


def targets_table(targets: list[dict]) -> str:
    """Markdown: the issues' targets, each a name, the value measured, the goal, whether met."""
    lines = ["| target | value | goal | met |", "| --- | ---: | ---: | --- |"]
    lines += [f"| {row['name']} | {row['value']} | {row['target']} | {'yes' if row['met'] else '**no**'} |"
              for row in targets]
    return "\n".join(lines)
