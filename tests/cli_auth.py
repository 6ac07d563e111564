"""``certpush … --as USER`` asks USER's password: tests pipe it as the first stdin line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def stdin_for(args: Sequence[str], passwords: Mapping[str, str], stdin: str = "") -> str:
    """``stdin`` with the acting user's password in front when the command has ``--as``."""
    if "--as" not in args:
        return stdin
    user = args[list(args).index("--as") + 1]
    return passwords.get(user, "") + "\n" + stdin
