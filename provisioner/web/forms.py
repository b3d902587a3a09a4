"""Form fields and their shape. The rules about what is allowed live in the workflow."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ..workflow import AVAILABILITY


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RegistrationForm(FlaskForm):
    uid = StringField("Username", validators=[DataRequired(), Length(max=64)],
                      description="3 to 32 lowercase letters, digits and hyphens, starting with a letter")
    display_name = StringField("Your name, as others will see it",
                               validators=[DataRequired(), Length(max=128)])
    mail = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)],
                             description="At least 12 characters; a few unusual words work well")
    password_again = PasswordField("Password again", validators=[
        DataRequired(), EqualTo("password", message="the two passwords differ")])
    groups = CheckboxesField("Working groups you want to join", choices=[])
    skills = StringField("Skills you offer (separated by commas)", validators=[Length(max=1400)])
    availability = RadioField(
        "Time you can give", validators=[InputRequired()],
        choices=[SelectChoice(value, label) for value, label in AVAILABILITY.items()])
    note = TextAreaField("A note for the sysadmins (optional)", validators=[Length(max=2000)])


class LoginForm(FlaskForm):
    uid = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
