"""Device profiles for tests: the administrator's file, written as a test needs it.

certpush runs only the commands a profile names. A private nginx has its own prefix and
config, so its test and reload commands differ per test: a test defines a profile for its
own device (``nginx_profile``) before adding a connector that names it. The file is the
one ``CERTPUSH_PROFILES_FILE`` names (set in tests/conftest.py for every process the
tests start); it is rewritten with every profile defined so far in this test session.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path

TMP = os.path.realpath(tempfile.gettempdir())
FILES = "test-files"  # separate files anywhere under the temporary folder, runs nothing
_defined: dict[str, dict] = {}


def profiles_file() -> Path:
    return Path(os.environ["CERTPUSH_PROFILES_FILE"])


def _toml(name: str, table: dict) -> str:
    lines = [f"[profiles.{name}]"]
    for key, value in table.items():
        if value is not None:
            lines.append(f"{key} = {json.dumps(value)}")  # a JSON string list is TOML too
    return "\n".join(lines) + "\n"


def write() -> None:
    path = profiles_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(_toml(n, t) for n, t in _defined.items()))


def define(
    name: str,
    *,
    layout: str = "separate",
    test: Sequence[str] | None = None,
    reload: Sequence[str] | None = None,
    folders: Sequence[str] = (TMP,),
) -> str:
    """Add (or replace) a profile in the file; returns its name for a connector's config."""
    _defined[name] = {
        "layout": layout,
        "test": list(test) if test else None,
        "reload": list(reload) if reload else None,
        "folders": [os.path.realpath(f) for f in folders],
    }
    write()
    return name


def adapt_builtin(name: str, folders: Sequence[str]) -> str:
    """Point a built-in profile at this test's folders, keeping its layout and commands
    (``[profiles.nginx] folders = [...]``, as an administrator adapts it to an estate)."""
    _defined[name] = {"folders": [os.path.realpath(f) for f in folders]}
    write()
    return name


def forget(name: str) -> None:
    _defined.pop(name, None)
    write()


def nginx_profile(
    nginx, name: str = "test-nginx", *, reload: Sequence[str] | None = None, **kw
) -> str:
    """A profile running ``nginx -t`` and ``nginx -s reload`` against a PrivateNginx."""
    return define(
        name,
        test=shlex.split(nginx.test_command),
        reload=list(reload) if reload else shlex.split(nginx.reload_command),
        **kw,
    )


define(FILES)
