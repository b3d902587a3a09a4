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
    line: int          # 0 for the file as a whole
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


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
    detail: str


def _shown(value: str) -> str:
    """A value someone typed, quoted back safely: short, with anything unprintable escaped."""
    return repr(value[:SHOWN] + ("…" if len(value) > SHOWN else ""))


def read_sheet(portal: Portal, data: bytes) -> list[SheetRow]:
    """The sheet's people; SheetInvalid naming every problem (with its line) otherwise."""
    if len(data) > MAX_SHEET_BYTES:
        raise SheetInvalid([SheetProblem(0, f"the file is {len(data):,} bytes: at most "
                                            f"{MAX_SHEET_BYTES:,} bytes can be imported at once")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SheetInvalid([SheetProblem(0, "the file is not UTF-8 text: save it from your "
                                            "spreadsheet as CSV (UTF-8)")]) from None
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
                problems.append(SheetProblem(line, f"more than {MAX_SHEET_ROWS} people: import "
                                                   "at most that many at once"))
                break
            if columns is not None and (row := _row(portal, line, cells, columns, seen, problems)):
                rows.append(row)
    except csv.Error as error:
        problems.append(SheetProblem(reader.line_num, f"not readable as CSV ({error})"))
    if not problems and not rows:
        problems.append(SheetProblem(0, "the file has nobody in it: a header row, then one row "
                                        "per person"))
    if problems:
        raise SheetInvalid(problems)
    return rows


def _columns(header: list[str], problems: list[SheetProblem]) -> dict[str, int] | None:
    names = [cell.strip().lower() for cell in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if missing or repeated:
        expected = ", ".join(REQUIRED_COLUMNS) + " and optionally " + ", ".join(OPTIONAL_COLUMNS)
        said = ([f"no column {', '.join(missing)}"] if missing else []) + (
            [f"more than one column {', '.join(repeated)}"] if repeated else [])
        problems.append(SheetProblem(1, f"the header row has {' and '.join(said)}: it names the "
                                        f"columns {expected}"))
        return None
    return {name: names.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in names}


def _row(portal: Portal, line: int, cells: list[str], columns: dict[str, int],
         seen: dict[str, int], problems: list[SheetProblem]) -> SheetRow | None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    reasons = []
    values = {name: cell(name) for name in columns}
    if any(unicodedata.category(ch) == "Cc" for value in values.values() for ch in value):
        problems.append(SheetProblem(line, "control characters (such as line breaks) in a cell"))
        return None
    name = normalise_display_name(values["name"])
    if name and (reason := check_display_name(name)):
        reasons.append(f"name {_shown(name)}: {reason}")
    mail = values["email"]
    if reason := check_address(mail):
        reasons.append(f"email {_shown(mail)}: {reason}")
    elif (earlier := seen.setdefault(mail.lower(), line)) != line:
        reasons.append(f"the same email as line {earlier}")
    groups = tuple(dict.fromkeys(slug for slug in GROUP_SEPARATORS.split(values["groups"]) if slug))
    unknown = [slug for slug in groups if slug not in portal.catalogue]
    if not groups:
        reasons.append("no working group: give their slugs, separated by spaces or ;")
    elif unknown:
        reasons.append("no such working group: " + ", ".join(map(_shown, unknown)))
    end_date = None
    if raw := values.get("end_date", ""):
        end_date = read_day(raw)
        if end_date is None:
            reasons.append(f"end_date {_shown(raw)} is not a date such as 2026-12-31")
        else:
            try:
                check_not_past(end_date, today=portal.clock().date())
            except InvalidInput as refused:
                reasons.append(f"end_date {refused.errors['end_date']}")
    if reasons:
        problems.append(SheetProblem(line, "; ".join(reasons)))
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
            outcomes.append(ImportOutcome(row.line, row.mail, SKIPPED, str(taken)))
        except (MailError, DirectoryError, StoreUnavailable) as error:
            outcomes.append(ImportOutcome(row.line, row.mail, FAILED,
                                          f"{error}; import the file again to send the rest"))
            break
        else:
            outcomes.append(ImportOutcome(row.line, row.mail, INVITED, _into(portal, row)))
    return outcomes


def _skip_reason(portal: Portal, mail: str) -> str | None:
    if reason := address_in_use(portal, mail):
        return reason
    with portal.store.begin() as connection:
        used = stored.used_for(connection, mail)
    return f"{mail} accepted an invitation already (as {used.uid})" if used else None


def _into(portal: Portal, row: SheetRow) -> str:
    names = [group.name for slug in row.groups if (group := portal.catalogue.get(slug))]
    until = f", until {row.end_date.isoformat()}" if row.end_date else ""
    return "into " + ", ".join(names) + until
