"""People: registration requests under ou=pending, accounts under ou=people."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum

import ldap3
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from .connection import DirectoryConnection, Record, Value
from .errors import AlreadyExists, DirectoryError, InvalidValue, NotFound
from .layout import UID_PATTERN, Layout, check_uid

PERSON_CLASSES = ["inetOrgPerson", "occupyVolunteer"]
# ppolicy's value for "locked until an administrator unlocks".
PERMANENT_LOCK = "000001010000Z"
LOCKED_UNTIL_UNLOCKED = datetime.min.replace(tzinfo=UTC)  # Person.locked_at for PERMANENT_LOCK
MAX_MAIL_LENGTH = 254
SEARCH_CHUNK = 200  # uids per OR filter


class Status(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


@dataclass(frozen=True)
class NewPerson:
    """What a registration (or create-admin) supplies."""

    uid: str
    display_name: str
    mail: str
    status: Status = Status.UNVERIFIED
    requested_groups: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    availability: str | None = None
    note: str | None = None
    end_date: date | None = None
    language: str | None = None  # preferredLanguage: the pages and mails it is shown


@dataclass(frozen=True)
class Person:
    uid: str
    dn: str
    display_name: str
    mail: str
    status: Status | None
    pending: bool
    requested_groups: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    availability: str | None = None
    note: str | None = None
    member_of: tuple[str, ...] = field(default=(), repr=False)
    created_at: datetime | None = None
    entry_id: str | None = None  # entryUUID: stays through a move, new for a new entry
    locked_at: datetime | None = None  # ppolicy's pwdAccountLockedTime, or LOCKED_UNTIL_UNLOCKED
    end_date: date | None = None  # the account's last day; after it its access is revoked
    language: str | None = None  # preferredLanguage, as a language code (es, pt_BR)
    totp: bool = False  # enrolled in two-step login: the entry has the oathTOTPToken class


# Python name -> LDAP attribute, for everything a Person carries.
ATTRIBUTES = {
    "uid": "uid",
    "display_name": "displayName",
    "mail": "mail",
    "status": "occupyStatus",
    "requested_groups": "occupyRequestedGroup",
    "skills": "occupySkill",
    "availability": "occupyAvailability",
    "note": "occupyNote",
    "member_of": "memberOf",
    "created_at": "createTimestamp",
    "entry_id": "entryUUID",
    "locked_at": "pwdAccountLockedTime",
    "end_date": "occupyEndDate",
    "language": "preferredLanguage",
}
END_DATE_CLASS = "occupyTerm"  # the auxiliary class that may hold occupyEndDate


def _split_name(display_name: str) -> tuple[str | None, str]:
    """givenName and sn for inetOrgPerson, which requires an sn."""
    words = display_name.split()
    if len(words) < 2:
        return None, display_name
    return " ".join(words[:-1]), words[-1]


def _generalized_time(value: str | None) -> datetime | None:
    """slapd's createTimestamp (20261125091500Z); ldap3 without schema gives it as text."""
    if not value:
        return None
    return datetime.strptime(value.split(".")[0].rstrip("Z"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _end_date(value: str | None) -> date | None:
    stamp = _generalized_time(value)
    return stamp.date() if stamp else None


def _day_stamp(day: date) -> str:
    return day.strftime("%Y%m%d000000Z")


def _lock_time(value: str | None) -> datetime | None:
    return LOCKED_UNTIL_UNLOCKED if value == PERMANENT_LOCK else _generalized_time(value)


def check_mail(mail: object) -> str:
    if (not isinstance(mail, str) or not mail.isascii() or len(mail) > MAX_MAIL_LENGTH
            or mail.count("@") != 1 or any(c.isspace() or ord(c) < 32 for c in mail)):
        raise InvalidValue("a mail address is up to 254 ASCII characters with one @ and no spaces")
    return mail


# TOTP lives in the person's own entry, in the OATH-LDAP attributes of slapd's otp
# module: readable by the portal's bind only (slapd.conf's ACL). The entry gets the
# auxiliary class oathTOTPToken but never oathTOTPUser, so even with the otp overlay
# on, binds (the services' logins) would stay password-only.
TOTP_CLASS = "oathTOTPToken"
TOTP_KEY = "oathSecret"
TOTP_ENROLLED = "oathSecretTime"
TOTP_LAST_STEP = "oathTOTPLastTimeStep"


@dataclass(frozen=True)
class TotpToken:
    secret: bytes = field(repr=False)  # the raw shared secret, as OATH-LDAP keeps it
    enrolled_at: datetime | None
    last_step: int | None  # the time step of the last code accepted; codes up to it are refused


class People:
    def __init__(self, connection: DirectoryConnection, layout: Layout):
        self._conn = connection
        self._layout = layout

    def _to_person(self, record: Record) -> Person:
        def text(name: str) -> str | None:
            return record.text(ATTRIBUTES[name])

        def texts(name: str) -> tuple[str, ...]:
            return record.texts(ATTRIBUTES[name])

        status = text("status")
        parent = record.dn.split(",", 1)[1]
        return Person(
            # inetOrgPerson requires neither uid nor mail; every entry the portal or the playbooks
            # make has both.
            uid=text("uid") or "",
            dn=record.dn,
            display_name=text("display_name") or record.text("cn") or "",
            mail=text("mail") or "",
            status=Status(status) if status else None,
            pending=parent.lower() == self._layout.pending.lower(),
            requested_groups=texts("requested_groups"),
            skills=texts("skills"),
            availability=text("availability"),
            note=text("note"),
            member_of=texts("member_of"),
            created_at=_generalized_time(text("created_at")),
            entry_id=text("entry_id"),
            locked_at=_lock_time(text("locked_at")),
            end_date=_end_date(text("end_date")),
            language=text("language"),
            totp=TOTP_CLASS.lower() in {name.lower() for name in record.texts("objectClass")},
        )

    def _read_attributes(self) -> list[str]:
        return [*ATTRIBUTES.values(), "cn", "objectClass"]

    def add(self, new: NewPerson, *, pending: bool = True) -> Person:
        """Create the entry, without a password. AlreadyExists if the uid or mail is taken."""
        given_name, surname = _split_name(new.display_name)
        dn = self._layout.person_dn(new.uid, pending=pending)
        classes = [*PERSON_CLASSES, END_DATE_CLASS] if new.end_date else PERSON_CLASSES
        self._conn.add(dn, classes, {
            "uid": new.uid,
            "cn": new.display_name,
            "displayName": new.display_name,
            "givenName": given_name,
            "sn": surname,
            "mail": check_mail(new.mail),
            "occupyStatus": str(new.status),
            "occupyRequestedGroup": list(new.requested_groups),
            "occupySkill": list(new.skills),
            "occupyAvailability": new.availability,
            "occupyNote": new.note,
            "occupyEndDate": _day_stamp(new.end_date) if new.end_date else None,
            "preferredLanguage": new.language,
        })
        added = self._read_at(dn)
        if added is None:
            raise NotFound(f"{new.uid}'s new entry was deleted as it was added")
        return added

    def find(self, uid: str, *, request_first: bool = False) -> Person | None:
        """The person with this uid, pending or active; None for a uid nobody can have.

        With `request_first`, for someone most likely still a registration request: read at
        the request's DN, and only when nothing is there at the account's (the two DNs the
        layout gives), rather than searching the tree."""
        try:
            check_uid(uid)
        except InvalidValue:
            return None
        if request_first:
            return self._read_at(self._layout.person_dn(uid, pending=True)) or self._read_at(
                self._layout.person_dn(uid))
        return self._find_one(f"(uid={escape_filter_chars(uid)})")

    def _read_at(self, dn: str) -> Person | None:
        try:
            found = self._conn.search(dn, "(objectClass=inetOrgPerson)", attributes=self._read_attributes(),
                                      scope=ldap3.BASE)
        except NotFound:
            return None
        return self._to_person(found[0]) if found else None

    def find_many(self, uids: list[str]) -> dict[str, Person]:
        """Everyone of these uids who exists, by uid, in a few searches rather than one each."""
        valid = [uid for uid in uids if UID_PATTERN.fullmatch(uid)]
        found: dict[str, Person] = {}
        for start in range(0, len(valid), SEARCH_CHUNK):
            either = "".join(f"(uid={escape_filter_chars(uid)})" for uid in valid[start:start + SEARCH_CHUNK])
            for record in self._conn.search(self._layout.base_dn,
                                            f"(&(objectClass=inetOrgPerson)(|{either}))",
                                            attributes=self._read_attributes()):
                person = self._to_person(record)
                found[person.uid.lower()] = person
        return {uid: found[uid.lower()] for uid in uids if uid.lower() in found}

    def find_by_mail(self, mail: str) -> Person | None:
        """Who holds this address: the account, else a verified request, else any request."""
        holders = self.with_mail(mail)
        return min(holders, key=lambda p: (p.pending, p.status == Status.UNVERIFIED), default=None)

    def with_mail(self, mail: str) -> list[Person]:
        """Everyone with this address: at most one account, and requests not verified yet
        (which may share it until one of them is verified)."""
        try:
            check_mail(mail)
        except InvalidValue:
            return []
        return [self._to_person(record) for record in self._conn.search(
            self._layout.base_dn, f"(&(objectClass=inetOrgPerson)(mail={escape_filter_chars(mail)}))",
            attributes=self._read_attributes())]

    def _find_one(self, condition: str) -> Person | None:
        found = self._conn.search(
            self._layout.base_dn, f"(&(objectClass=inetOrgPerson){condition})",
            attributes=self._read_attributes(),
        )
        return self._to_person(found[0]) if found else None

    def with_status(self, status: Status, *, pending_only: bool = False,
                    created_before: datetime | None = None) -> list[Person]:
        """People in a lifecycle state, oldest first; `pending_only` keeps to ou=pending."""
        condition = f"(occupyStatus={escape_filter_chars(str(status))})"
        if created_before is not None:
            stamp = created_before.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")
            condition += f"(createTimestamp<={stamp})"
        found = self._conn.search(
            self._layout.pending if pending_only else self._layout.base_dn,
            f"(&(objectClass=inetOrgPerson){condition})", attributes=self._read_attributes(),
        )
        people = [self._to_person(record) for record in found]
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(people, key=lambda person: (person.created_at or oldest, person.uid))

    def get(self, uid: str) -> Person:
        person = self.find(uid)
        if person is None:
            raise NotFound(f"nobody has the uid {uid!r}")
        return person

    def _entry(self, who: str | Person) -> Person:
        """The entry as the caller read it, or for a uid as read now (NotFound if none)."""
        return who if isinstance(who, Person) else self.get(who)

    def activate(self, who: str | Person) -> Person:
        """Move a pending entry to ou=people; an account is returned as is. `who` is a uid,
        or the entry as just read: then the move goes to the DN it had, unread again.

        AlreadyExists when an account has its address: the unique overlay checks adds and
        modifies in ou=people, but a move only for the new RDN's values, so one indexed
        search under ou=people does it here."""
        person = self._entry(who)
        if not person.pending:
            return person
        if person.mail:
            holders = self._conn.search(self._layout.people, f"(mail={escape_filter_chars(person.mail)})",
                                        attributes=["uid"], scope=ldap3.LEVEL)
            # Its own entry, moved since it was read, is no other account: the move below tells.
            if any((holder.text("uid") or "").lower() != person.uid.lower() for holder in holders):
                raise AlreadyExists(f"another account has the address of {person.uid!r}")
        try:
            self._conn.move(person.dn, f"uid={escape_rdn(person.uid)}", self._layout.people)
        except (NotFound, AlreadyExists):
            # Moved since it was read (an approval finishing at the same time: the unique
            # overlay then finds its uid in ou=people before slapd finds it gone), or deleted.
            moved = self.get(person.uid)
            if moved.pending:
                raise
            return moved
        return replace(person, dn=self._layout.person_dn(person.uid), pending=False)

    def set_status(self, who: str | Person, status: Status) -> None:
        """`who` is a uid, or the entry as read: then written at its DN, NotFound if it moved."""
        self._conn.modify(self._entry(who).dn, {"occupyStatus": [(ldap3.MODIFY_REPLACE, [str(status)])]})

    def set_end_date(self, who: str | Person, end_date: date | None) -> None:
        """Set the account's last day, or with None remove it (the account becomes open-ended).
        `who` is a uid, or the entry as read: then written at its DN."""
        person = self._entry(who)
        changes: dict[str, list[tuple[str, list[Value]]]] = {
            "occupyEndDate": [(ldap3.MODIFY_REPLACE, [_day_stamp(end_date)] if end_date else [])]}
        if end_date and person.end_date is None:  # with an end date, the entry has the class
            record = self._conn.read(person.dn, attributes=["objectClass"])
            classes = {value.lower() for value in record.texts("objectClass")} if record else set()
            if END_DATE_CLASS.lower() not in classes:
                changes = {"objectClass": [(ldap3.MODIFY_ADD, [END_DATE_CLASS])], **changes}
        self._conn.modify(person.dn, changes)

    def ending_by(self, day: date) -> list[Person]:
        """Accounts (ou=people) whose last day is `day` or earlier, soonest first."""
        found = self._conn.search(
            self._layout.people,
            f"(&(objectClass=inetOrgPerson)(occupyEndDate<={_day_stamp(day)}))",
            attributes=self._read_attributes())
        people = [self._to_person(record) for record in found]
        return sorted(people, key=lambda person: (person.end_date or day, person.uid))

    def lock(self, uid: str) -> None:
        """Lock the account (ppolicy): no bind succeeds, here or in any service reading LDAP."""
        self._conn.modify(self.get(uid).dn,
                          {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [PERMANENT_LOCK])]})

    def unlock(self, uid: str) -> None:
        self._conn.modify(self.get(uid).dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [])]})

    def delete(self, uid: str) -> None:
        self._conn.delete(self.get(uid).dn)

    def set_password(self, who: str | Person, password: str) -> None:
        """`who` is a uid, or the entry as read: then set at its DN, NotFound if it moved."""
        self._conn.set_password(self._entry(who).dn, password)

    def check_password(self, uid: str, password: str) -> bool:
        """True when an active account with this uid binds with this password."""
        person = self.find(uid)
        if person is None or person.pending:
            return False
        return self._conn.check_password(person.dn, password)

    def set_display_name(self, uid: str, display_name: str) -> None:
        """Replace cn, displayName, givenName and sn together, so they never disagree."""
        given_name, surname = _split_name(display_name)
        self._conn.modify(self.get(uid).dn, {
            "cn": [(ldap3.MODIFY_REPLACE, [display_name])],
            "displayName": [(ldap3.MODIFY_REPLACE, [display_name])],
            "givenName": [(ldap3.MODIFY_REPLACE, [given_name] if given_name else [])],
            "sn": [(ldap3.MODIFY_REPLACE, [surname])],
        })

    def set_language(self, who: str | Person, language: str) -> None:
        """`who` is a uid, or the entry as read: then written at its DN."""
        self._conn.modify(self._entry(who).dn, {"preferredLanguage": [(ldap3.MODIFY_REPLACE, [language])]})

    def set_mail(self, uid: str, mail: str) -> None:
        """AlreadyExists when another entry has this address (the unique overlay)."""
        self._conn.modify(self.get(uid).dn, {"mail": [(ldap3.MODIFY_REPLACE, [check_mail(mail)])]})

    def password_state(self, uid: str) -> str:
        """A digest that changes whenever the password is set, to bind single-use links to it.

        From the stored hash (a new salt each time) where the portal's bind may read it,
        and from ppolicy's pwdChangedTime (to the second) in any case; never the hash itself.
        """
        record = self._conn.read(self.get(uid).dn, attributes=["userPassword", "pwdChangedTime"])
        material = [] if record is None else [
            *(value if isinstance(value, bytes) else str(value).encode()
              for value in record.all("userPassword")),
            str(record.first("pwdChangedTime", "")).encode(),
        ]
        return hashlib.sha256(b"\x00".join(material)).hexdigest()[:32]

    # TOTP (second factor). Active accounts only: they live under ou=people.

    def _totp_record(self, uid: str) -> Record | None:
        return self._conn.read(self._layout.person_dn(uid),
                               attributes=["objectClass", TOTP_KEY, TOTP_ENROLLED, TOTP_LAST_STEP])

    def totp(self, uid: str) -> TotpToken | None:
        """The person's TOTP secret and last used step; None when they have not enrolled."""
        record = self._totp_record(uid)
        secret = record.first(TOTP_KEY) if record is not None else None
        if record is None or secret is None:
            return None
        # Without the schema ldap3 hands back text when the bytes happen to be UTF-8.
        secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        last_step = record.first(TOTP_LAST_STEP)
        return TotpToken(secret=secret, enrolled_at=_generalized_time(record.text(TOTP_ENROLLED)),
                         last_step=int(last_step) if last_step is not None else None)

    def has_totp(self, uid: str) -> bool:
        """Read now; an entry just read says it as `totp`."""
        record = self._conn.read(self._layout.person_dn(uid), attributes=["objectClass"])
        return record is not None and TOTP_CLASS.lower() in {c.lower() for c in record.all("objectClass")}

    def set_totp(self, uid: str, secret: bytes, *, enrolled_at: datetime, last_step: int) -> None:
        """Store a confirmed secret (replacing any earlier one) with the step of the confirming code."""
        person = self.get(uid)
        if person.pending:
            raise NotFound(f"{uid!r} is still a registration request, not an account")
        changes: dict[str, list[tuple[str, list[Value]]]] = {
            TOTP_KEY: [(ldap3.MODIFY_REPLACE, [secret])],
            TOTP_ENROLLED: [(ldap3.MODIFY_REPLACE,
                             [enrolled_at.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")])],
            TOTP_LAST_STEP: [(ldap3.MODIFY_REPLACE, [str(last_step)])],
        }
        if not self.has_totp(uid):
            changes["objectClass"] = [(ldap3.MODIFY_ADD, [TOTP_CLASS])]
        self._conn.modify(person.dn, changes)

    def advance_totp_step(self, uid: str, last_step: int | None, step: int) -> bool:
        """Record `step` as used, only if the last used step is still `last_step`.

        One modify (delete the old value, add the new), which slapd applies whole or not at
        all: of two portal processes accepting codes at once, only one succeeds. False when
        another login moved the step first.
        """
        change: list[tuple[str, list[Value]]]
        if last_step is None:
            change = [(ldap3.MODIFY_ADD, [str(step)])]
        else:
            change = [(ldap3.MODIFY_DELETE, [str(last_step)]), (ldap3.MODIFY_ADD, [str(step)])]
        try:
            self._conn.modify(self._layout.person_dn(uid), {TOTP_LAST_STEP: change})
        except DirectoryError:
            current = self.totp(uid)
            if current is None or current.last_step != last_step:
                return False
            raise
        return True

    def remove_totp(self, uid: str) -> bool:
        """Remove the secret and its class; False when the person had none."""
        if not self.has_totp(uid):
            return False
        record = self._totp_record(uid)
        if record is None:          # deleted since has_totp read it
            return False
        changes: dict[str, list[tuple[str, list[Value]]]] = {
            name: [(ldap3.MODIFY_DELETE, [])]
            for name in (TOTP_KEY, TOTP_ENROLLED, TOTP_LAST_STEP) if record.all(name)}
        changes["objectClass"] = [(ldap3.MODIFY_DELETE, [TOTP_CLASS])]
        self._conn.modify(self._layout.person_dn(uid), changes)
        return True

    def with_totp(self) -> set[str]:
        """The uids of everyone who has enrolled."""
        found = self._conn.search(self._layout.people, f"(objectClass={TOTP_CLASS})", attributes=["uid"])
        return {uid for record in found if (uid := record.text("uid")) is not None}

    # Finding accounts: the sysadmins' people page (issue 16).

    def accounts_where(self, *, statuses: Iterable[Status], availability: str | None = None,
                       member_of: str | None = None) -> list[Person]:
        """Accounts (ou=people) in one of `statuses`, with this availability and in the group
        of DN `member_of` when given, by uid. Every value is escaped into the filter."""
        either = "".join(f"(occupyStatus={escape_filter_chars(str(status))})" for status in statuses)
        if not either:
            return []
        condition = f"(|{either})"
        if availability is not None:
            condition += f"(occupyAvailability={escape_filter_chars(availability)})"
        if member_of is not None:
            condition += f"(memberOf={escape_filter_chars(member_of)})"
        found = self._conn.search(self._layout.people, f"(&(objectClass=inetOrgPerson){condition})",
                                  attributes=self._read_attributes())
        return sorted((self._to_person(record) for record in found), key=lambda person: person.uid)
