"""The rule for new and changed passwords: long, not common, not the user name.

The list of common passwords (``data/common_passwords.txt``, 19,640 entries, one a
line, lower case) is Django's ``common-passwords.txt`` (BSD licence): the most frequent
passwords of public breach corpora, compiled by Royce Williams. It ships with certpush,
so the check works offline. Entries shorter than the minimum length are refused by the
length rule already; the whole list is kept so that a lower minimum stays covered.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from data.domain.errors import WeakPasswordError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # Argon2 hashes any length; a megabyte of "password" is only a cost
COMMON_PASSWORDS_FILE = "common_passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list, read once per process (a packaged file, not configuration)."""
    text = resources.files("data").joinpath(COMMON_PASSWORDS_FILE).read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def _core(text: str) -> str:
    """The password without the digits and symbols people pad a word with."""
    return text.casefold().strip("0123456789!@#$%^&*()_+-=.,;:?'\"/\\|~`[]{}<> ")


def check_password(password: str, username: str) -> None:
    """Refuse a new password that is short, common or the user name (raises WeakPasswordError).

    The message says which rule failed and what to do; it never echoes the password.
    """
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(
            f"password too short: use at least {MIN_LENGTH} characters"
            " (a few unrelated words make a long one easy to remember)"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"password too long: at most {MAX_LENGTH} characters")
    folded = password.casefold().strip()
    name = username.strip().casefold()
    if name and (folded == name or _core(password) == name):
        raise WeakPasswordError("password refused: it is the user name; choose another")
    if folded in common_passwords() or _core(password) in common_passwords():
        raise WeakPasswordError(
            "password refused: it is one of the most common passwords; choose another"
        )
