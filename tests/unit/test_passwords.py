"""The password rule for new and changed passwords (data/domain/passwords.py)."""

from __future__ import annotations

import pytest

from data.domain.errors import CertpushError, WeakPasswordError
from data.domain.passwords import MIN_LENGTH, check_password, common_passwords


@pytest.mark.parametrize(
    ("password", "username", "refused_because"),
    [
        ("short-pw", "olivia", "too short"),
        ("x" * (MIN_LENGTH - 1), "olivia", "too short"),
        ("password1234", "olivia", "most common"),
        ("PASSWORD1234", "olivia", "most common"),  # case does not help
        ("qwertyuiop123", "olivia", "most common"),
        ("Password!2024", "olivia", "most common"),  # a common word padded with symbols
        ("olivia.tester", "olivia.tester", "user name"),
        ("OLIVIA.TESTER", "olivia.tester", "user name"),
        ("olivia.tester123!", "olivia.tester", "user name"),
        ("x" * 1025, "olivia", "too long"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, username, refused_because):
    with pytest.raises(WeakPasswordError, match=refused_because) as caught:
        check_password(password, username)
    assert isinstance(caught.value, CertpushError)
    assert password not in str(caught.value)  # the message never echoes the password


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "s3cret pass phrase", "x" * MIN_LENGTH, "olivia and her cat"],
)
def test_long_uncommon_passwords_pass(password):
    check_password(password, "olivia")


def test_the_shipped_list_is_the_common_passwords_list():
    common = common_passwords()
    assert len(common) > 19_000
    assert {"123456", "password", "qwerty", "iloveyou"} <= common
    assert all(entry == entry.strip().lower() for entry in common)
