"""Bulk import: a working group's sign-up sheet (CSV) becomes one invitation per person.

The sheet has a header row naming its columns: name, email, groups (slugs separated by
spaces, `;` or `,`) and optionally end_date (YYYY-MM-DD); other columns are ignored.
A UTF-8 byte order mark and Excel's quoting are fine, and so is a sheet whose columns
are separated by `;` (as some spreadsheets save CSV). The whole file is read and checked
first: every bad row is reported with its line number and reason, and nothing is sent
unless there is none. Then each person is invited once: an address with an account, a
request waiting for approval, an open or used invitation is skipped and said why, so
importing the same file again invites nobody twice and completes an import cut short.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from .. import languages
from ..directory import DirectoryError
from ..languages import Text, said_by
from ..mail import MailError
from ..store import StoreUnavailable
from ..store import invitations as stored
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .fields import check_address, check_display_name, normalise_display_name, read_day
from .invitations import AddressTaken, address_in_use, check_language, invite
from .permissions import Actor, require_sysadmin
from .terms import check_not_past

MAX_SHEET_BYTES = 200_000
MAX_SHEET_ROWS = 1000
REQUIRED_COLUMNS = ("name", "email", "groups")
OPTIONAL_COLUMNS = ("end_date",)
GROUP_SEPARATORS = re.compile(r"[\s;,]+")
SHOWN = 40  # characters of a refused value quoted back

INVITED, WOULD_INVITE, SKIPPED, FAILED = "invited", "would invite", "skipped", "failed"


@dataclass(frozen=True)
class SheetRow:
    line: int
    name: str
    mail: str
    groups: tuple[str, ...]
    end_date: date | None


@dataclass(frozen=True)
class SheetProblem:
    """What is wrong on one line, each reason a message a page shows in its language."""

    line: int          # 0 for the file as a whole
    reasons: tuple[Text, ...]

    def __str__(self) -> str:
        said = "; ".join(self.reasons)
        return f"line {self.line}: {said}" if self.line else said


class SheetInvalid(WorkflowError):
    """The sheet has problems; nothing was sent. `problems` names every one."""

    def __init__(self, problems: list[SheetProblem]):
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class ImportOutcome:
    line: int
    mail: str
    outcome: str       # invited, would invite, skipped, failed
    detail: str        # a Text, for a page to show in its language


def _shown(value: str) -> str:
    """A value someone typed, quoted back safely: short, with anything unprintable escaped."""
    return repr(value[:SHOWN] + ("…" if len(value) > SHOWN else ""))


def read_sheet(portal: Portal, data: bytes) -> list[SheetRow]:
    """The sheet's people; SheetInvalid naming every problem (with its line) otherwise."""
    if len(data) > MAX_SHEET_BYTES:
        raise SheetInvalid([SheetProblem(0, (Text(
            "the file is %(size)s bytes: at most %(most)s bytes can be imported at once",
            size=f"{len(data):,}", most=f"{MAX_SHEET_BYTES:,}"),))])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SheetInvalid([SheetProblem(0, (Text(
            "the file is not UTF-8 text: save it from your spreadsheet as CSV (UTF-8)"),))]) from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if "," not in first_line and ";" in first_line else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    problems: list[SheetProblem] = []
    rows: list[SheetRow] = []
    try:
        columns = _columns(next(reader, []), problems)
        seen: dict[str, int] = {}
        count = 0
        while True:
            line = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                break
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > MAX_SHEET_ROWS:
                problems.append(SheetProblem(line, (Text(
                    "more than %(most)d people: import at most that many at once",
                    most=MAX_SHEET_ROWS),)))
                break
            if columns is not None and (row := _row(portal, line, cells, columns, seen, problems)):
                rows.append(row)
    except csv.Error as error:
        problems.append(SheetProblem(reader.line_num, (Text("not readable as CSV (%(error)s)",
                                                            error=str(error)),)))
    if not problems and not rows:
        problems.append(SheetProblem(0, (Text("the file has nobody in it: a header row, then one "
                                              "row per person"),)))
    if problems:
        raise SheetInvalid(problems)
    return rows


def _columns(header: list[str], problems: list[SheetProblem]) -> dict[str, int] | None:
    names = [cell.strip().lower() for cell in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if missing or repeated:
        values = {"missing": ", ".join(missing), "repeated": ", ".join(repeated),
                  "expected": Text("%(required)s and optionally %(optional)s",
                                   required=", ".join(REQUIRED_COLUMNS),
                                   optional=", ".join(OPTIONAL_COLUMNS))}
        if missing and repeated:
            said = Text("the header row has no column %(missing)s and more than one column "
                        "%(repeated)s: it names the columns %(expected)s", **values)
        elif missing:
            said = Text("the header row has no column %(missing)s: it names the columns "
                        "%(expected)s", **values)
        else:
            said = Text("the header row has more than one column %(repeated)s: it names the "
                        "columns %(expected)s", **values)
        problems.append(SheetProblem(1, (said,)))
        return None
    return {name: names.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in names}


def _row(portal: Portal, line: int, cells: list[str], columns: dict[str, int],
         seen: dict[str, int], problems: list[SheetProblem]) -> SheetRow | None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    reasons: list[Text] = []
    values = {name: cell(name) for name in columns}
    if any(unicodedata.category(ch) == "Cc" for value in values.values() for ch in value):
        problems.append(SheetProblem(line, (Text("control characters (such as line breaks) in a cell"),)))
        return None
    name = normalise_display_name(values["name"])
    if name and (reason := check_display_name(name)):
        reasons.append(Text("name %(name)s: %(reason)s", name=_shown(name), reason=reason))
    mail = values["email"]
    if reason := check_address(mail):
        reasons.append(Text("email %(mail)s: %(reason)s", mail=_shown(mail), reason=reason))
    elif (earlier := seen.setdefault(mail.lower(), line)) != line:
        reasons.append(Text("the same email as line %(line)d", line=earlier))
    groups = tuple(dict.fromkeys(slug for slug in GROUP_SEPARATORS.split(values["groups"]) if slug))
    unknown = [slug for slug in groups if slug not in portal.catalogue]
    if not groups:
        reasons.append(Text("no working group: give their slugs, separated by spaces or ;"))
    elif unknown:
        reasons.append(Text("no such working group: %(slugs)s", slugs=", ".join(map(_shown, unknown))))
    end_date = None
    if raw := values.get("end_date", ""):
        end_date = read_day(raw)
        if end_date is None:
            reasons.append(Text("end_date %(value)s is not a date such as 2026-12-31", value=_shown(raw)))
        else:
            try:
                check_not_past(end_date, today=portal.clock().date())
            except InvalidInput as refused:
                reasons.append(Text("end_date %(reason)s", reason=refused.errors["end_date"]))
    if reasons:
        problems.append(SheetProblem(line, tuple(reasons)))
        return None
    return SheetRow(line, name, mail, groups, end_date)


def import_sheet(portal: Portal, data: bytes, *, actor: Actor, dry_run: bool = False,
                 language: str = languages.SOURCE_LANGUAGE,
                 remote_addr: str | None = None) -> list[ImportOutcome]:
    """Invite everyone of a valid sheet once, each in `language` (with `dry_run`, only say
    what would be sent).

    InvalidInput for a language without a catalogue and SheetInvalid when any row is bad,
    nothing sent either way. An invitation that fails (the mail server refused it) stops
    the import there: importing the file again sends the rest."""
    require_sysadmin(portal, actor)
    if reason := check_language(language):
        raise InvalidInput({"language": reason})
    outcomes = []
    for row in read_sheet(portal, data):
        reason = _skip_reason(portal, row.mail)
        if reason is not None:
            outcomes.append(ImportOutcome(row.line, row.mail, SKIPPED, reason))
            continue
        if dry_run:
            outcomes.append(ImportOutcome(row.line, row.mail, WOULD_INVITE, _into(portal, row)))
            continue
        try:
            invite(portal, row.mail, row.groups, until=row.end_date, actor=actor,
                   display_name=row.name, language=language, remote_addr=remote_addr)
        except AddressTaken as taken:
            outcomes.append(ImportOutcome(row.line, row.mail, SKIPPED, said_by(taken)))
        except (MailError, DirectoryError, StoreUnavailable) as error:
            outcomes.append(ImportOutcome(row.line, row.mail, FAILED, Text(
                "%(error)s; import the file again to send the rest", error=str(error))))
            break
        else:
            outcomes.append(ImportOutcome(row.line, row.mail, INVITED, _into(portal, row)))
    return outcomes


def _skip_reason(portal: Portal, mail: str) -> str | None:
    if reason := address_in_use(portal, mail):
        return reason
    with portal.store.begin() as connection:
        used = stored.used_for(connection, mail)
    return Text("%(mail)s accepted an invitation already (as %(uid)s)", mail=mail,
                uid=used.uid) if used else None


def _into(portal: Portal, row: SheetRow) -> Text:
    names = ", ".join(group.name for slug in row.groups if (group := portal.catalogue.get(slug)))
    if row.end_date:
        return Text("into %(groups)s, until %(day)s", groups=names, day=row.end_date.isoformat())
    return Text("into %(groups)s", groups=names)
