"""Form fields and their shape. The rules about what is allowed live in the workflow."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence

from flask_wtf import FlaskForm  # type: ignore[import-untyped]  # no py.typed marker, no stubs
from wtforms import (
    EmailField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3; stubs: 3.2
from wtforms.fields.core import Field
from wtforms.form import BaseForm
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..languages import Text
from ..workflow import AVAILABILITY
from .language import lazy_gettext as _l
from .language import shown

MAX_SHOWN = 256  # a refused value longer than this (or its field's limit) is not shown again


# Line breaks and tabs are text in a multi-line field; every other control character
# is refused everywhere, before any value reaches the directory, a mail or a playbook.
MULTILINE_WHITESPACE = frozenset("\t\n\r")
CONTROL_REFUSED = Text("remove the control characters (such as line breaks) from this field")


def refuse(field: Field, reason: str | BaseException) -> None:
    """Show a refusal under the field, after the form was validated (the workflow's, say),
    in the page's language."""
    field.errors = [*field.errors, shown(reason)]


class PortalForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped (Flask-WTF)
    """Every form of the portal: control characters refused with a clear message, and a
    refused value too long for its field not shown again, so no answer repeats a flood."""

    def validate(self, extra_validators: Mapping[str, Sequence[Callable[[BaseForm, Field], object]]]
                 | None = None) -> bool:
        valid: bool = super().validate(extra_validators)
        for field in self:
            if isinstance(field.data, str) and _has_control_characters(field):
                refuse(field, CONTROL_REFUSED)
                valid = False
            if field.errors and _typed_length(field) > _max_length(field):
                field.raw_data = []  # a date or a choice shows what was typed, not its data
                if isinstance(field.data, str):
                    field.data = ""
        return valid


def _typed_length(field: Field) -> int:
    typed = [value for value in field.raw_data or () if isinstance(value, str)]
    return max(len(field.data) if isinstance(field.data, str) else 0, sum(map(len, typed)))


def _has_control_characters(field: Field) -> bool:
    allowed = MULTILINE_WHITESPACE if isinstance(field, TextAreaField) else frozenset()
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in field.data)


def _max_length(field: Field) -> int:
    validators: Sequence[object] = field.validators  # the stubs type them as (form, Field) callables
    limits = [validator.max for validator in validators
              if isinstance(validator, Length) and validator.max >= 0]
    return min(limits, default=MAX_SHOWN)


class CheckboxesField(SelectMultipleField):
    """Checkboxes; values not offered are refused in one short message, never listed."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: BaseForm) -> None:
        offered = {choice.value if isinstance(choice, SelectChoice) else choice[0]
                   for choice in self.choices or ()}
        if len(self.data or ()) > len(offered) or not set(self.data or ()) <= offered:
            self.data = [value for value in self.data or () if value in offered]
            raise ValidationError(_l("choose from the list"))


class RegistrationForm(PortalForm):
    uid = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)],
                      description=_l("3 to 32 lowercase letters, digits and hyphens, starting with a letter"))
    display_name = StringField(_l("Your name, as others will see it"),
                               validators=[DataRequired(), Length(max=128)])
    mail = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             description=_l("At least 12 characters; a few unusual words work well"))
    password_again = PasswordField(_l("Password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("the two passwords differ"))])
    groups = CheckboxesField(_l("Working groups you want to join"), choices=[])
    skills = StringField(_l("Skills you offer (separated by commas)"), validators=[Length(max=1400)])
    availability = RadioField(
        _l("Time you can give"), validators=[InputRequired()], choices=[])
    note = TextAreaField(_l("A note for the sysadmins (optional)"), validators=[Length(max=2000)])

    def __init__(self, *args: object, **kwargs: object):
        super().__init__(*args, **kwargs)
        # WTForms keeps a choice's label as made; each form is made in its request's language.
        self.availability.choices = [SelectChoice(value, shown(label))
                                     for value, label in AVAILABILITY.items()]


class LoginForm(PortalForm):
    uid = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class InvitationAcceptForm(PortalForm):
    """Registration's own fields, but the address: the invitation's link proves it."""

    # The very same (unbound) fields; the stubs type a class's fields as the bound ones.
    uid: StringField = RegistrationForm.uid  # type: ignore[assignment]
    display_name: StringField = RegistrationForm.display_name  # type: ignore[assignment]
    password: PasswordField = RegistrationForm.password  # type: ignore[assignment]
    password_again: PasswordField = RegistrationForm.password_again  # type: ignore[assignment]
