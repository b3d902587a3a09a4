"""New passwords: length, the bundled list of common passwords, personal data, zxcvbn's score."""

from __future__ import annotations

import html
import time
from importlib import resources

import pytest

from provisioner.passwords import MAX_LENGTH, MIN_LENGTH, SCORED_LENGTH, WeakPassword, check_new_password
from provisioner.workflow import create_sysadmin

from ldap_helpers import snapshot
from portal_actions import ADMIN_PASSWORD, VOLUNTEER_PASSWORD

PASSPHRASE = "Ribbon-Tundra-Oxbow-Gallant-47"
# Every character zxcvbn reads as a letter in disguise: the input it is slowest on.
L33T_CHARACTERS = "!$%(+0123456789<@[{|"


def listed_passwords() -> list[str]:
    path = resources.files("provisioner").joinpath("data", "common-passwords.txt")
    return path.read_text("utf-8").splitlines()


def long_enough_listed_passwords(count: int) -> list[str]:
    """The most common entries that the length check alone would let through."""
    return [entry for entry in listed_passwords() if len(entry) >= MIN_LENGTH][:count]


def test_the_list_has_at_least_a_thousand_non_empty_lowercase_entries():
    entries = listed_passwords()
    assert len(entries) >= 1000
    assert all(len(entry) >= 1 for entry in entries)
    assert all(entry == entry.lower() for entry in entries)
    assert len(set(entries)) == len(entries)


def test_the_list_has_long_entries_to_refuse():
    assert len(long_enough_listed_passwords(10)) == 10


@pytest.mark.parametrize("common", ["qwerty123456", "1qaz2wsx3edc", *long_enough_listed_passwords(5)])
@pytest.mark.parametrize("case", [str, str.upper, str.title, str.swapcase])
def test_common_passwords_are_refused_in_any_case(common, case):
    assert common in listed_passwords()
    with pytest.raises(WeakPassword, match="most common passwords"):
        check_new_password(case(common))


def test_a_long_random_passphrase_is_accepted():
    check_new_password(PASSPHRASE)
    check_new_password(PASSPHRASE, personal=("alice", "alice.smith", "Alice", "Smith"))


@pytest.mark.parametrize("password", [
    "alice.smith-2024!",  # contains the email local part
    "My-ALICE-is-long",  # contains the username, other case
    "xxSmithsonian99",  # contains a display name word
])
def test_passwords_with_personal_data_are_refused(password):
    password = password.ljust(MIN_LENGTH, "#")
    with pytest.raises(WeakPassword, match="cannot contain your username, email or name"):
        check_new_password(password, personal=("alice", "alice.smith", "Alice", "Smith"))


def test_a_password_equal_to_personal_data_is_refused():
    with pytest.raises(WeakPassword, match="cannot contain your username, email or name"):
        check_new_password("Annabel.Wright", personal=("annabel.wright",))


def test_personal_strings_shorter_than_four_characters_are_ignored():
    check_new_password("bob-" + PASSPHRASE, personal=("bob", "", "Bo"))


def test_short_passwords_are_still_refused_with_the_old_message():
    with pytest.raises(WeakPassword, match=f"^a password needs at least {MIN_LENGTH} characters$"):
        check_new_password("password")
    with pytest.raises(WeakPassword, match=f"^a password needs at least {MIN_LENGTH} characters$"):
        check_new_password("x" * (MIN_LENGTH - 1))


def test_too_long_passwords_keep_their_message():
    with pytest.raises(WeakPassword, match=f"^a password has at most {MAX_LENGTH} characters$"):
        check_new_password("x" * (MAX_LENGTH + 1))


@pytest.mark.parametrize("unsendable", ["\x00", "\n", "\t", "\x1b", "\u202e", " שלום עולם"])
def test_a_password_the_directory_could_not_check_at_login_is_refused(unsendable):
    """ldap3 SASLpreps every password it sends (RFC 4013): one it refuses could be set but
    never used to log in, so it is refused when chosen, with a reason."""
    with pytest.raises(WeakPassword, match="control characters .* or mix right-to-left"):
        check_new_password(PASSPHRASE + unsendable)


@pytest.mark.parametrize("password, personal", [
    ("QWERTY123456", ()),
    ("password1234", ()),
    ("aaaaaaaaaaaa", ()),
    ("htimsecila-7319", ("alicesmith",)),
    ("alice.smith-2024!", ("alice.smith",)),
    ("short", ()),
])
def test_the_message_never_contains_the_password(password, personal):
    with pytest.raises(WeakPassword) as refused:
        check_new_password(password, personal=personal)
    message = str(refused.value).lower()
    assert password.lower() not in message
    assert all(item.lower() not in message for item in personal)


@pytest.mark.parametrize("password, reason", [
    ("password1234", "This is a very common password."),
    ("aaaaaaaaaaaa", 'Repeats like "aaa" are easy to guess.'),
    ("123456789012", "This is similar to a commonly used password."),
    ("abcdefghijklmnop", 'Sequences like "abc" or "6543" are easy to guess.'),
])
def test_the_reported_guessable_passwords_are_refused_with_the_reason(password, reason):
    """Twelve characters and off the bundled list, yet guessed at once (issue 12, item 8)."""
    with pytest.raises(WeakPassword) as refused:
        check_new_password(password)
    assert str(refused.value) == (f"this password is too easy to guess. {reason} "
                                  "Add another word or two. Uncommon words are better.")


def test_the_persons_own_data_counts_against_the_score():
    """zxcvbn tries the person's data first, reversed and in l33t too, which the plain
    substring check does not see."""
    check_new_password("htimsecila-7319", personal=("alice",))
    with pytest.raises(WeakPassword, match="^this password is too easy to guess. "):
        check_new_password("htimsecila-7319", personal=("alicesmith", "alice", "Smith"))


@pytest.mark.parametrize("password, personal", [
    (PASSPHRASE, ("alice", "alice.smith", "Alice", "Smith")),
    ("correct horse battery staple", ()),
    ("Ocelot pancake thunder 1984 violet", ("vera", "Vera", "Volunteer")),
    ("zq7#Vm2!pL9$wX4&", ("vera", "vera", "Vera", "Volunteer")),
    (VOLUNTEER_PASSWORD, ("vera", "vera", "Vera", "Volunteer")),
    (ADMIN_PASSWORD, ("sam", "sam", "Sam", "Admin")),
])
def test_strong_passphrases_are_accepted(password, personal):
    check_new_password(password, personal=personal)


def test_only_the_first_characters_are_scored_so_a_weak_start_is_refused():
    weak_start = "a" * SCORED_LENGTH + PASSPHRASE
    with pytest.raises(WeakPassword, match="Repeats like"):
        check_new_password(weak_start)
    check_new_password(PASSPHRASE + "a" * (MAX_LENGTH - len(PASSPHRASE)))


def test_the_longest_password_zxcvbn_is_slowest_on_is_checked_in_bounded_time():
    """Scored whole (or its first 100 characters), this costs zxcvbn 9 s and more."""
    password = (L33T_CHARACTERS * MAX_LENGTH)[:MAX_LENGTH]
    started = time.perf_counter()
    check_new_password(password)
    assert time.perf_counter() - started < 5


def test_create_sysadmin_refuses_a_password_with_the_admins_own_name(directory, slapd_server):
    before = snapshot(slapd_server)
    with pytest.raises(WeakPassword, match="cannot contain your username, email or name"):
        create_sysadmin(directory, "sam", "sam@example.org", "Sam Samuelson", "oxbow-samuelson-tundra")
    assert snapshot(slapd_server) == before


def test_the_registration_form_says_why_and_creates_nothing(visitor, inbox, slapd_server):
    before = snapshot(slapd_server)
    response = visitor.register(password="password1234", password_again="password1234")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "this password is too easy to guess. This is a very common password." in page
    assert "password1234" not in page
    assert snapshot(slapd_server) == before and inbox.messages() == []
