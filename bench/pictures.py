"""The benchmarks' pictures, as SVG written here (no plotting library): the scale curve
and the per-stage times of the largest services run, drawn from results.json's details.

Each figure is a median with its min and max as a whisker, as in the table.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from services import STAGE_NAMES, STAGES

WIDTH, PANEL_HEIGHT = 420, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 44, 36, 48
COLOURS = ("#1f5f99", "#c0612b")
KIND_NAMES = {"end_to_end": "end to end", "floor": "REST floor"}
FONT = 'font-family="sans-serif" font-size="12"'


@dataclass(frozen=True)
class Point:
    x: float
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, x: float, values: Sequence[float]) -> Point:
        return cls(x, statistics.median(values), min(values), max(values))


def nice_step(largest: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks up to `largest`."""
    rough = max(largest, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(rough))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= rough)


def label(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def text(x: float, y: float, content: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT} {extra}>{escape(content)}</text>'


def line(x1: float, y1: float, x2: float, y2: float, colour: str = "#000", extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" {extra}/>'


def document(title: str, width: float, height: float, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img">\n<title>{escape(title)}</title>\n'
            f'<rect width="100%" height="100%" fill="#fff"/>\n' + "\n".join(parts) + "\n</svg>\n")


def log_x_panel(left: float, title: str, x_label: str, y_label: str, points: list[Point]) -> list[str]:
    """A curve over a log-scaled x axis, y from 0, with the values' whiskers, its left edge at `left`."""
    x0, x1 = left + MARGIN_LEFT, left + WIDTH - MARGIN_RIGHT
    y0, y1 = PANEL_HEIGHT - MARGIN_BOTTOM, MARGIN_TOP
    first = math.floor(math.log10(min(p.x for p in points)))
    span = max(math.ceil(math.log10(max(p.x for p in points))) - first, 1)
    step = nice_step(max(p.high for p in points))
    top = step * math.ceil(max(p.high for p in points) / step)

    def at_x(value: float) -> float:
        return x0 + (math.log10(value) - first) / span * (x1 - x0)

    def at_y(value: float) -> float:
        return y0 - value / top * (y0 - y1)

    middle = (y0 + y1) / 2
    parts = [text(left + WIDTH / 2, 20, title, extra='font-weight="bold"'),
             line(x0, y0, x1, y0), line(x0, y0, x0, y1),
             text((x0 + x1) / 2, PANEL_HEIGHT - 10, x_label),
             text(left + 14, middle, y_label, extra=f'transform="rotate(-90 {left + 14} {middle})"')]
    for power in range(first, first + span + 1):
        x = at_x(10 ** power)
        parts += [line(x, y0, x, y0 + 5), text(x, y0 + 18, label(10 ** power))]
    for tick in range(0, round(top / step) + 1):
        y = at_y(tick * step)
        parts += [line(x0 - 5, y, x0, y), line(x0, y, x1, y, "#ddd"),
                  text(x0 - 8, y + 4, label(tick * step), "end")]
    path = " ".join(f"{'L' if i else 'M'}{at_x(p.x):.1f},{at_y(p.median):.1f}" for i, p in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>')
    for p in points:
        x, tip = at_x(p.x), f"N={label(p.x)}: {p.median:.3g} (min {p.low:.3g}, max {p.high:.3g})"
        parts += [line(x, at_y(p.low), x, at_y(p.high), COLOURS[0]),
                  f'<circle cx="{x:.1f}" cy="{at_y(p.median):.1f}" r="4" fill="{COLOURS[0]}">'
                  f'<title>{escape(tip)}</title></circle>',
                  text(x + 6, at_y(p.median) - 8, f"{p.median:.3g}", "start")]
    return parts


def scale_picture(scale: dict) -> str:
    """Per-volunteer cost and the whole run's time against N (the scale part's details)."""
    runs = scale["runs"]
    cost = [Point.of(size["volunteers"], [1000 * run["seconds"] / size["volunteers"] for run in size["runs"]])
            for size in runs]
    total = [Point.of(size["volunteers"], [run["seconds"] for run in size["runs"]]) for size in runs]
    title = "Provisioning run against batch size N (no services offered)"
    return document(title, 2 * WIDTH, PANEL_HEIGHT, [
        *log_x_panel(0, "per volunteer", "volunteers in the batch (N)", "ms per volunteer", cost),
        *log_x_panel(WIDTH, "whole run", "volunteers in the batch (N)", "seconds", total)])


def stages_picture(services: dict, stages: Sequence[str], names: dict[str, str]) -> str:
    """Each stage's seconds in the services part's largest run, end to end and (where it has
    one) the REST floor's, as horizontal bars."""
    size = max(services["runs"], key=lambda run: run["volunteers"])
    kinds = [(kind, colour, [stage for stage in stages if all(stage in run for run in size[kind])])
             for kind, colour in zip(("end_to_end", "floor"), COLOURS, strict=True) if size.get(kind)]
    bars = {(kind, stage): Point.of(0, [run[stage] for run in size[kind]])
            for kind, _, present in kinds for stage in present}
    label_width, bar_height, row_height = 230, 12, 34
    x0, x1 = label_width, 2 * WIDTH - MARGIN_RIGHT - 40
    height = MARGIN_TOP + 20 + row_height * len(stages) + MARGIN_BOTTOM
    step = nice_step(max(point.high for point in bars.values()))
    top = step * math.ceil(max(point.high for point in bars.values()) / step)

    def at_x(value: float) -> float:
        return x0 + value / top * (x1 - x0)

    title = f"Where the time goes: {size['volunteers']:,} volunteers through Mailman, DokuWiki and Redmine"
    y_axis_end = MARGIN_TOP + 20 + row_height * len(stages)
    parts = [text(WIDTH, 20, title, extra='font-weight="bold"'), line(x0, y_axis_end, x1, y_axis_end),
             line(x0, MARGIN_TOP + 20, x0, y_axis_end),
             text((x0 + x1) / 2, height - 10, "seconds (median of the runs, whisker: min to max)")]
    for tick in range(0, round(top / step) + 1):
        x = at_x(tick * step)
        parts += [line(x, y_axis_end, x, y_axis_end + 5), line(x, MARGIN_TOP + 20, x, y_axis_end, "#ddd"),
                  text(x, y_axis_end + 18, label(tick * step))]
    for position, (kind, colour, _) in enumerate(kinds):
        legend_x = x0 + position * 180
        parts += [f'<rect x="{legend_x}" y="{MARGIN_TOP - 8}" width="12" height="12" fill="{colour}"/>',
                  text(legend_x + 18, MARGIN_TOP + 2, KIND_NAMES[kind], "start")]
    for row, stage in enumerate(stages):
        y = MARGIN_TOP + 20 + row * row_height + 4
        parts.append(text(x0 - 8, y + bar_height + 2, names.get(stage, stage), "end"))
        for position, (kind, colour, present) in enumerate(kinds):
            if stage not in present:
                continue
            point, bar_y = bars[kind, stage], y + position * (bar_height + 2)
            tip = f"{names.get(stage, stage)}, {KIND_NAMES[kind]}: {point.median:.3g} s"
            parts += [f'<rect x="{x0}" y="{bar_y:.1f}" width="{at_x(point.median) - x0:.1f}" '
                      f'height="{bar_height}" fill="{colour}"><title>{escape(tip)}</title></rect>',
                      line(at_x(point.low), bar_y + bar_height / 2, at_x(point.high), bar_y + bar_height / 2),
                      text(at_x(point.high) + 4, bar_y + bar_height - 2, f"{point.median:.3g} s", "start")]
    return document(title, 2 * WIDTH, height, parts)


def draw(details: dict, folder: Path) -> list[Path]:
    """The pictures the parts that ran allow, written into `folder`: their paths."""
    written = []
    if details.get("scale", {}).get("runs"):
        written.append(write(folder / "scale.svg", scale_picture(details["scale"])))
    if details.get("services", {}).get("runs"):
        written.append(write(folder / "stages.svg", stages_picture(details["services"], STAGES, STAGE_NAMES)))
    return written


def write(path: Path, svg: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg)
    return path

