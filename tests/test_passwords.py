"""New passwords: length, the bundled list of common passwords, personal data."""

from __future__ import annotations

from importlib import resources

import pytest

from provisioner.passwords import MAX_LENGTH, MIN_LENGTH, WeakPassword, check_new_password

PASSPHRASE = "Ribbon-Tundra-Oxbow-Gallant-47"


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


def test_too_long_and_nul_passwords_keep_their_messages():
    with pytest.raises(WeakPassword, match=f"^a password has at most {MAX_LENGTH} characters$"):
        check_new_password("x" * (MAX_LENGTH + 1))
    with pytest.raises(WeakPassword, match="^a password cannot contain a NUL character$"):
        check_new_password(PASSPHRASE + "\x00")


@pytest.mark.parametrize("password, personal", [
    ("QWERTY123456", ()),
    ("alice.smith-2024!", ("alice.smith",)),
    ("short", ()),
])
def test_the_message_never_contains_the_password(password, personal):
    with pytest.raises(WeakPassword) as refused:
        check_new_password(password, personal=personal)
    message = str(refused.value).lower()
    assert password.lower() not in message
    assert all(item.lower() not in message for item in personal)
