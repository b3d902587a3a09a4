"""What every page of a browser journey must pass beyond working: axe-core finds no violation,
nothing scrolls sideways at 320 px wide, its title says what it is; and a form's errors are tied
to their fields and announced once."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
NARROW = 320  # px: the narrowest phone WCAG's reflow criterion asks for


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is, one line each with the elements."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `make install` installs it (npm ci)")
    page.add_script_tag(path=AXE)
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']}))"
                          ".violations.map(v => [v.id, v.help, v.nodes.map(n => n.target.join(' '))])")
    return [f"{rule}: {text} ({', '.join(targets)})" for rule, text, targets in found]


def width_at_narrow_screen(page: Page) -> int:
    """The page's width in a 320 px wide window: more than 320 scrolls sideways."""
    size = page.viewport_size or {"width": 1280, "height": 720}
    page.set_viewport_size({"width": NARROW, "height": size["height"]})
    try:
        width: int = page.evaluate("document.documentElement.scrollWidth")
    finally:
        page.set_viewport_size(size)
    return width


def contrast(first: str, second: str) -> float:
    """WCAG's contrast ratio of two CSS rgb()/rgba() colours (alpha ignored)."""
    def luminance(colour: str) -> float:
        channels = [int(value) / 255 for value in re.findall(r"\d+", colour)[:3]]
        red, green, blue = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                            for c in channels)
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def assert_focus_visible(page: Page, skip_link: str = "Skip to main content") -> None:
    """The first Tab reaches the skip link (named in the page's language), ringed at 3:1 or
    more against the page and it."""
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=skip_link)
    expect(skip).to_be_focused()
    style, colour, link, body = skip.evaluate(
        "link => { const own = getComputedStyle(link); return [own.outlineStyle, own.outlineColor,"
        " own.backgroundColor, getComputedStyle(document.body).backgroundColor]; }")
    assert style == "solid", (style, colour)
    for background in (link, body):
        if background != "rgba(0, 0, 0, 0)":                     # transparent: the page's
            assert contrast(colour, background) >= 3, (colour, background)


class PageChecks:
    """Checks each page a journey shows, and remembers each path's title. `language` is the
    `lang` of <html> each page must have (change it when the journey changes language)."""

    def __init__(self, page: Page, language: str = "en"):
        self.page = page
        self.language = language
        self.titles: dict[str, str] = {}

    def check(self) -> None:
        page = self.page
        expect(page.locator("html")).to_have_attribute("lang", self.language)
        violations = axe_violations(page)
        assert violations == [], (page.url, violations)
        width = width_at_narrow_screen(page)
        assert width <= NARROW, f"{page.url} is {width} px wide in a {NARROW} px window"
        self.titles.setdefault(urlsplit(page.url).path, page.title())

    def assert_titles_distinct(self) -> None:
        titles = list(self.titles.values())
        assert len(set(titles)) == len(titles), self.titles


def assert_errors_tied_to_fields(page: Page, invalid_fields: int) -> None:
    """The form's summary has focus and links to each invalid field, which names its error."""
    assert page.title().startswith("Error: ")
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(page.get_by_role("alert")).to_have_count(0)       # the summary is the one announcement
    targets = [link.get_attribute("href") or "" for link in summary.get_by_role("link").all()]
    for target in targets:
        field = page.locator(target)
        expect(field).to_have_attribute("aria-invalid", "true")
        described_by = (field.get_attribute("aria-describedby") or "").split()
        errors = [page.locator(f"#{error_id}.error") for error_id in described_by]
        assert [error for error in errors if error.count() == 1], (target, described_by)
    assert len(set(targets)) == invalid_fields      # a group of options is linked by its first
