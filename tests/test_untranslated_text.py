"""Every text a person reads is marked for translation (docs/translations.md).

The page and mail templates, parsed by the portal's own Jinja environment: their words
outside `{% trans %}` and `_()`, and the attributes a person reads (a tooltip, a label for
screen readers, a placeholder, an image's text, a button's value). The views: what they
flash, refuse under a field or show on an error page, written as plain English. A page
added with an English text fails here, and the failure names each text to mark.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from jinja2 import Environment, nodes

from provisioner import create_app

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "provisioner"
PAGES = PACKAGE / "web" / "templates"
MAILS = PACKAGE / "mail" / "templates"
VIEWS = sorted((PACKAGE / "web").glob("*.py"))

# Words that read the same in every language; each says why.
SAME_IN_EVERY_LANGUAGE = {
    "(JSON)": "the name of the data download's file format",
}
# A mail template's first line is its header, which the mailer reads off (mail/__init__.py).
MAIL_HEADER = "Subject:"

LETTER = re.compile(r"[^\W\d_]")
EXPRESSION = "\x00"   # where the template has an expression, a tag of its own or a translated text
MARKUP = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>|<[^>]*>", re.DOTALL | re.IGNORECASE)
ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-f]+|\w+);", re.IGNORECASE)
TAG = re.compile(r"<[a-z][^>]*>", re.IGNORECASE)
READ_ATTRIBUTE = re.compile(r"(?<![\w-])(title|aria-label|placeholder|alt)\s*=\s*([\"'])(.*?)\2",
                            re.DOTALL | re.IGNORECASE)
BUTTON_INPUT = re.compile(r"<input\b[^>]*\btype\s*=\s*[\"']?(?:submit|button|reset)\b", re.IGNORECASE)
BUTTON_VALUE = re.compile(r"(?<![\w-])value\s*=\s*([\"'])(.*?)\1", re.DOTALL | re.IGNORECASE)

# gettext and its kin: their messages are in the catalogue; `shown` translates the workflow's Text.
MARKING = frozenset({"gettext", "_", "ngettext", "_l", "lazy_gettext", "Text", "shown"})
# Calls whose argument a person reads: its position, or the keywords an error page shows.
READ_ARGUMENT = {"flash": 0, "refuse": 1}
READ_KEYWORDS = {"render_template": frozenset({"title", "message", "reason"})}


@pytest.fixture(scope="module")
def jinja_env() -> Environment:
    """The portal's own environment (its i18n extension, its `trimmed`), with no service behind."""
    app = create_app({"SECRET_KEY": "k" * 32, "LDAP_BIND_PASSWORD": "unused", "DATABASE_URL": "sqlite://"})
    environment: Environment = app.jinja_env
    return environment


def _readable(text: str) -> str:
    return " ".join(text.replace(EXPRESSION, " ").split())


def _has_words(text: str) -> bool:
    return bool(LETTER.search(text)) and text not in SAME_IN_EVERY_LANGUAGE


def untranslated_in_template(env: Environment, source: str, *, html: bool) -> list[tuple[int, str]]:
    """(line, text) of each text a person reads in the template that is not marked, in order."""
    pieces = list(env.parse(source).find_all(nodes.TemplateData))
    starts, offset = [], 0
    for piece in pieces:
        starts.append(offset)
        offset += len(piece.data) + len(EXPRESSION)
    document = EXPRESSION.join(piece.data for piece in pieces)
    if not html and document.startswith(MAIL_HEADER):
        document = " " * len(MAIL_HEADER) + document[len(MAIL_HEADER):]

    def line_of(position: int) -> int:
        index = max(i for i, start in enumerate(starts) if start <= position)
        return pieces[index].lineno + pieces[index].data.count("\n", 0, position - starts[index])

    found = []
    if html:
        found += list(_read_attributes(document))
        # Offsets kept, for the lines: each element's text is reported apart, an entity is a space.
        document = MARKUP.sub(lambda match: EXPRESSION * len(match.group()), document)
        document = ENTITY.sub(lambda match: " " * len(match.group()), document)
    for run in re.finditer(rf"[^{EXPRESSION}]+", document):
        text = _readable(run.group())
        if _has_words(text):
            found.append((run.start() + len(run.group()) - len(run.group().lstrip()), text))
    return [(line_of(position), text) for position, text in sorted(found)]


def _read_attributes(document: str) -> Iterator[tuple[int, str]]:
    """The attributes a person reads (or hears) whose value has words of its own."""
    for tag in TAG.finditer(document):
        values = [(match.start(), match.group(1), match.group(3))
                  for match in READ_ATTRIBUTE.finditer(tag.group())]
        if BUTTON_INPUT.match(tag.group()):
            values += [(match.start(), "value", match.group(2))
                       for match in BUTTON_VALUE.finditer(tag.group())]
        for position, name, value in values:
            if _has_words(_readable(value)):
                yield tag.start() + position, f"{name}={value.replace(EXPRESSION, '{{ }}')!r}"


def _called(call: ast.Call) -> str:
    function = call.func
    return function.id if isinstance(function, ast.Name) else function.attr if isinstance(
        function, ast.Attribute) else ""


def _english_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to an English text: `HINT = "At least 12 characters"`."""
    return {target.id: statement.value.value for statement in tree.body if isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)
            and LETTER.search(statement.value.value)
            for target in statement.targets if isinstance(target, ast.Name)}


def unmarked_in(expression: ast.expr, constants: dict[str, str]) -> list[str]:
    """What in an expression a person reads is English that no gettext (or Text) marks."""
    if isinstance(expression, ast.Call) and _called(expression) in MARKING:
        return []
    if isinstance(expression, ast.Call) and _called(expression) == "str":
        return [f"{ast.unparse(expression)} (keeps only the English: use shown())"]
    if isinstance(expression, ast.JoinedStr):
        literal = "".join(part.value for part in expression.values if isinstance(part, ast.Constant))
        return [ast.unparse(expression)] if LETTER.search(literal) else []
    if isinstance(expression, ast.Constant):
        return [repr(expression.value)] if isinstance(expression.value, str) and LETTER.search(
            expression.value) else []
    if isinstance(expression, ast.Name) and expression.id in constants:
        return [f"{expression.id} = {constants[expression.id]!r}"]
    return [found for part in _parts_shown(expression) for found in unmarked_in(part, constants)]


def _parts_shown(expression: ast.expr) -> list[ast.expr]:
    """The parts of an expression that end up in what is shown: either branch of a choice, both
    sides of a concatenation, a helper's arguments (never a key, an index or an attribute)."""
    if isinstance(expression, ast.IfExp):
        return [expression.body, expression.orelse]
    if isinstance(expression, ast.BoolOp):
        return expression.values
    if isinstance(expression, ast.BinOp):
        return [expression.left, expression.right]
    if isinstance(expression, ast.Call):
        return [*expression.args, *(keyword.value for keyword in expression.keywords)]
    return []


def _read_by_a_person(call: ast.Call) -> list[ast.expr]:
    position = READ_ARGUMENT.get(_called(call))
    read = [call.args[position]] if position is not None and len(call.args) > position else []
    words = READ_KEYWORDS.get(_called(call), frozenset())
    return read + [keyword.value for keyword in call.keywords if keyword.arg in words]


def _built_before_translation(call: ast.Call) -> bool:
    """gettext(f"...") and the like: a message made of values can be in no catalogue."""
    return (_called(call) in MARKING - {"shown"} and bool(call.args)
            and isinstance(call.args[0], ast.JoinedStr | ast.BinOp))


def untranslated_in_views(sources: dict[str, str]) -> list[str]:
    """`file:line call: text` for each message of the views a person reads unmarked."""
    trees = {name: ast.parse(source) for name, source in sources.items()}
    constants = {name: _english_constants(tree) for name, tree in trees.items()}
    found: list[tuple[str, int, str]] = []
    for name, tree in trees.items():
        known = dict(constants[name])
        for statement in tree.body:
            if isinstance(statement, ast.ImportFrom) and statement.level == 1:
                theirs = constants.get(f"{statement.module}.py", {})
                known.update({alias.asname or alias.name: theirs[alias.name]
                              for alias in statement.names if alias.name in theirs})
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            texts = [text for read in _read_by_a_person(call) for text in unmarked_in(read, known)]
            if _built_before_translation(call):
                texts.append(f"{ast.unparse(call.args[0])} (built before translation: give the values "
                             "as keywords)")
            found += [(name, call.lineno, f"{_called(call)}: {text}") for text in texts]
    return [f"{name}:{line} {text}" for name, line, text in sorted(found)]


def test_every_text_of_the_templates_is_marked_for_translation(jinja_env):
    found = [f"{path.relative_to(ROOT)}:{line}: {text}"
             for folder in (PAGES, MAILS) for path in sorted(folder.rglob("*.*"))
             for line, text in untranslated_in_template(jinja_env, path.read_text(), html=folder == PAGES)]
    assert not found, ("Texts a person reads, not marked for translation: put each in {% trans %} "
                       "or _() (docs/translations.md):\n" + "\n".join(found))


def test_every_message_the_views_show_is_marked_for_translation():
    found = untranslated_in_views({path.name: path.read_text() for path in VIEWS})
    assert not found, ("Messages a person reads, not marked for translation: wrap each in gettext() "
                       "(or Text in the workflow) and show a workflow error with shown():\n"
                       + "\n".join(f"provisioner/web/{line}" for line in found))


# The guard itself: it finds English where it is, and nothing in what is marked.

def test_the_template_guard_finds_plain_words_and_read_attributes(jinja_env):
    source = ('<h1>Welcome</h1>\n<p>{% trans %}Marked{% endtrans %} and {{ name }}</p>\n'
              '<a href="/x" title="Open it">{{ _("Go") }}</a>\n<img src="q.png" alt="QR code">\n'
              '<input type="submit" value="Send"><input type="hidden" name="back" value="groups">\n'
              '<nav aria-label="Pages {{ n }}"></nav>')
    assert untranslated_in_template(jinja_env, source, html=True) == [
        (1, "Welcome"), (2, "and"), (3, "title='Open it'"), (4, "alt='QR code'"), (5, "value='Send'"),
        (6, "aria-label='Pages {{ }}'")]


def test_the_template_guard_passes_markup_numbers_expressions_and_marked_text(jinja_env):
    source = ('{% extends "base.html" %}{% block title %}{{ _("Home") }}{% endblock %}\n'
              '{% block content %}<!-- a note for developers -->\n'
              '<p class="flash {{ category }}" role="alert" aria-labelledby="x">{{ message }}</p>\n'
              '<a href="{{ url }}" title="{{ _("Open") }}">&nbsp;&raquo; 42 · {{ count }} (JSON)</a>\n'
              '<p>{% trans count=n %}{{ count }} day{% pluralize %}{{ count }} days{% endtrans %}.</p>\n'
              '<input type="submit" value="{{ _("Send") }}">{% endblock %}')
    assert untranslated_in_template(jinja_env, source, html=True) == []


def test_the_template_guard_reads_a_mail_after_its_header(jinja_env):
    source = ("Subject: {% trans %}Hello{% endtrans %}\n{% trans %}Hi {{ name }},{% endtrans %}\n\n"
              "  - {{ _(group) }}\nRegards\n{{ link }}\n")
    assert untranslated_in_template(jinja_env, source, html=False) == [(5, "Regards")]


def test_the_view_guard_finds_flashed_refused_and_shown_english():
    views = {"security.py": 'HINT = "Set it up first"\n',
             "pages.py": ("from .security import HINT\n"
                          "flash(HINT)\n"
                          "flash(f'{uid}: not reset: {error}', 'error')\n"
                          "refuse(form.password, 'Wrong password')\n"
                          "flash(str(error), 'error')\n"
                          "render_template('error.html', title='Oops', message=gettext('Marked'))\n"
                          "flash(_bounded(f'{uid}: no preview'))\n"
                          "flash(gettext('Yes') if ok else 'No')\n"
                          "flash(gettext(f'Hello {name}'))\n")}
    assert untranslated_in_views(views) == [
        "pages.py:2 flash: HINT = 'Set it up first'",
        "pages.py:3 flash: f'{uid}: not reset: {error}'",
        "pages.py:4 refuse: 'Wrong password'",
        "pages.py:5 flash: str(error) (keeps only the English: use shown())",
        "pages.py:6 render_template: 'Oops'",
        "pages.py:7 flash: f'{uid}: no preview'",
        "pages.py:8 flash: 'No'",
        "pages.py:9 gettext: f'Hello {name}' (built before translation: give the values as keywords)"]


def test_the_view_guard_passes_marked_messages_and_data():
    views = {"pages.py": ("flash(gettext('Saved: %(name)s', name=name))\n"
                          "flash(shown(error), 'error')\n"
                          "refuse(form.code, refused.errors['code'])\n"
                          "refuse(form.password, refused)\n"
                          "flash(ngettext('%(num)d job', '%(num)d jobs', n), 'error')\n"
                          "render_template('error.html', title=_('Forbidden'), message=shown(error))\n"
                          "render_template('list.html', mode='edit')\n"
                          "flash(f'{uid}: {count}')\n")}
    assert untranslated_in_views(views) == []
