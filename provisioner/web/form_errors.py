"""A form's errors for assistive technology: each tied to its field, listed once in a summary."""

from __future__ import annotations

from typing import NamedTuple

from flask import Flask
from wtforms.fields.core import Field
from wtforms.form import BaseForm

MULTIPLE_CHOICE = ("RadioField", "CheckboxesField")


class SummaryLine(NamedTuple):
    """One error of the summary at the top of the page, linking to its field."""

    target: str
    label: str
    message: str


def error_id(field: Field, number: int) -> str:
    return f"{field.id}-error-{number}"


def field_attributes(field: Field) -> dict[str, str]:
    """The attributes tying a field (or each of its options) to its help text and errors."""
    described_by = [f"{field.id}-help"] if field.description else []
    described_by += [error_id(field, number) for number in range(1, len(field.errors) + 1)]
    attributes = {"aria-describedby": " ".join(described_by)} if described_by else {}
    if field.errors:
        attributes["aria-invalid"] = "true"
    return attributes


def error_summary(form: BaseForm) -> list[SummaryLine]:
    """Every error of the form's visible fields, in the form's order."""
    return [SummaryLine(_target(field), field.label.text, message)
            for field in form if field.type != "CSRFTokenField"
            for message in field.errors]


def _target(field: Field) -> str:
    # A group of radio buttons or checkboxes is reached through its first option.
    return f"{field.id}-0" if field.type in MULTIPLE_CHOICE else str(field.id)


def init_app(app: Flask) -> None:
    app.add_template_global(error_id)
    app.add_template_global(field_attributes)
    app.add_template_global(error_summary)
