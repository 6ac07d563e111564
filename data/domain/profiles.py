"""Device profiles: how a kind of device takes a certificate, defined by an administrator.

A profile names the file layout, the test and reload commands (argument lists, run
without a shell) and the folders a connector using it may write into. Operators pick a
profile and name file paths inside its folders; they never type a command. Pure: the
text of ``profiles.toml`` comes in, profiles or a ProfilesError with line numbers come out.
"""

from __future__ import annotations

import enum
import posixpath
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from data.domain.errors import CertpushError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KNOWN_KEYS = frozenset(
    {"layout", "test", "reload", "folders", "description", "verify_settle", "verify_grace"}
)
# Seconds: the first probe after an install, and how long probing may go on (issue 13).
TIMING_LIMITS = {"verify_settle": 600.0, "verify_grace": 3600.0}


class Layout(enum.StrEnum):
    """How certificate, chain and key are split into files on the device."""

    SEPARATE = "separate"  # certificate, key, and (optional) chain files
    FULLCHAIN = "fullchain"  # certificate followed by its chain; key apart (nginx)
    COMBINED = "combined"  # one PEM: certificate, chain, key (HAProxy)
    PKCS12 = "pkcs12"  # one PKCS#12 file, its generated password written beside it


# The connector settings naming files, per layout: (required, optional).
LAYOUT_PATHS: dict[Layout, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Layout.SEPARATE: (("cert_path", "key_path"), ("chain_path",)),
    Layout.FULLCHAIN: (("cert_path", "key_path"), ()),
    Layout.COMBINED: (("cert_path",), ()),
    Layout.PKCS12: (("cert_path",), ()),
}
PKCS12_PASSWORD_SUFFIX = ".pass"


class ProfilesError(CertpushError):
    """The profiles file is wrong; ``problems`` are "line N: why" sentences."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class Profile:
    """One device profile. ``source`` says who defined it (built-in, the file, a migration)."""

    name: str
    layout: Layout
    test: tuple[str, ...] | None
    reload: tuple[str, ...] | None
    folders: tuple[str, ...]
    source: str = "built-in"
    description: str = ""
    needs_review: bool = False
    # Verification after a push (None: the host's CERTPUSH_VERIFY_SETTLE / _GRACE). Not
    # part of the pinned plan: they change when the device is checked, not what it gets.
    verify_settle: float | None = None
    verify_grace: float | None = None

    def definition(self) -> dict[str, Any]:
        """What a push plan pins of the profile: a change here voids approvals."""
        return {
            "name": self.name,
            "layout": self.layout.value,
            "test": list(self.test) if self.test else None,
            "reload": list(self.reload) if self.reload else None,
            "folders": list(self.folders),
            "source": self.source,
            "needs_review": self.needs_review,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.definition(),
            "description": self.description,
            "verify_settle": self.verify_settle,
            "verify_grace": self.verify_grace,
        }

    def allows(self, path: str) -> bool:
        """Whether ``path`` (absolute, normalised) lies inside one of the profile's folders."""
        return any(inside(path, folder) for folder in self.folders)


BUILT_IN: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "nginx",
            Layout.FULLCHAIN,
            ("nginx", "-t"),
            ("nginx", "-s", "reload"),
            ("/etc/nginx", "/etc/ssl/certpush"),
            description="nginx: certificate followed by its chain, key apart; nginx -t, "
            "then nginx -s reload",
        ),
        Profile(
            "apache2",
            Layout.SEPARATE,
            ("apache2ctl", "configtest"),
            ("apache2ctl", "graceful"),
            ("/etc/apache2", "/etc/ssl/certpush"),
            description="Apache httpd: certificate, key and chain files; configtest, "
            "then a graceful restart",
        ),
        Profile(
            "haproxy",
            Layout.COMBINED,
            ("haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"),
            ("systemctl", "reload", "haproxy"),
            ("/etc/haproxy", "/etc/ssl/certpush"),
            description="HAProxy: one PEM with certificate, chain and key; haproxy -c, "
            "then systemctl reload haproxy",
        ),
        Profile(
            "files-only",
            Layout.SEPARATE,
            None,
            None,
            ("/etc/ssl/certpush",),
            description="Writes the files and runs nothing (the device picks them up itself)",
        ),
    )
}


def inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` itself or below it (both absolute and normalised)."""
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder if folder == "/" else folder + "/")


def clean_path(text: str) -> str:
    """An absolute POSIX path with no ``..``, no ``.`` and no doubled slashes, or ValueError."""
    if not text.startswith("/"):
        raise ValueError("must be an absolute path")
    parts = text.split("/")
    if ".." in parts:
        raise ValueError("must not contain '..'")
    if "\x00" in text or "\n" in text:
        raise ValueError("must be a single line")
    return posixpath.normpath(text)


def _line_of(lines: list[str], name: str, key: str | None = None) -> int:
    """1-based line of ``[profiles.name]`` (or of ``key =`` in that table), 0 if not found."""
    header = re.compile(r"^\s*\[\s*profiles\s*\.\s*\"?" + re.escape(name) + r"\"?\s*\]")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return 0
    if key is None:
        return start + 1
    key_line = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i in range(start + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if key_line.match(lines[i]):
            return i + 1
    return start + 1


def _argv(value: Any) -> tuple[str, ...] | str | None:
    """A command as a list of strings; returns an error sentence instead when it is not."""
    if value is None:
        return None
    if isinstance(value, str):
        return 'must be a list of arguments such as ["/usr/sbin/nginx", "-t"], not a string'
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of arguments"
    if not all(isinstance(arg, str) and arg and "\x00" not in arg for arg in value):
        return "every argument must be a non-empty string"
    return tuple(value)


def _profile(
    name: str, table: Any, lines: list[str], source: str
) -> tuple[Profile | None, list[str]]:
    problems: list[str] = []

    def say(key: str | None, message: str) -> None:
        problems.append(f"line {_line_of(lines, name, key)}: profile {name!r}: {message}")

    if not _NAME.match(name):
        say(None, "a profile name is 1-64 letters, digits, '.', '_' or '-'")
    if not isinstance(table, Mapping):
        say(None, "must be a table ([profiles.NAME])")
        return None, problems
    for key in sorted(set(table) - KNOWN_KEYS):
        say(key, f"unknown key {key!r} (known: {', '.join(sorted(KNOWN_KEYS))})")
    base = BUILT_IN.get(name)  # a built-in's name: keys left out keep the built-in's value
    if base is not None:
        table = {**base.definition(), "description": base.description, **table}
        table.pop("name"), table.pop("source"), table.pop("needs_review")
        source = f"{source} (changes the built-in)"
    layout_text = table.get("layout")
    layout = None
    try:
        layout = Layout(layout_text)
    except ValueError:
        say("layout", f"layout must be one of {', '.join(x.value for x in Layout)}, "
                      f"not {layout_text!r}")  # fmt: skip
    commands: dict[str, tuple[str, ...] | None] = {}
    for key in ("test", "reload"):
        value = _argv(table.get(key))
        if isinstance(value, str):
            say(key, f"{key} {value}")
        else:
            commands[key] = value
    raw_folders = table.get("folders")
    folders: list[str] = []
    if not isinstance(raw_folders, list) or not raw_folders:
        say("folders", "folders must be a non-empty list of absolute paths")
    else:
        for folder in raw_folders:
            try:
                clean = clean_path(str(folder)) if isinstance(folder, str) else None
            except ValueError as exc:
                say("folders", f"folder {folder!r} {exc}")
                continue
            if clean is None:
                say("folders", f"folder {folder!r} must be a string")
            elif clean == "/":
                say("folders", "folder '/' would allow writing anywhere on the device")
            else:
                folders.append(clean)
        for a in folders:
            for b in folders:
                if a != b and inside(b, a):
                    say("folders", f"folders {a} and {b} overlap: list only {a}")
    description = table.get("description", "")
    if not isinstance(description, str):
        say("description", "description must be a string")
    timings: dict[str, float] = {}
    for key, limit in TIMING_LIMITS.items():
        value = table.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= limit:
            say(key, f"{key} must be a number of seconds between 0 and {limit:.0f}")
        else:
            timings[key] = float(value)
    if problems or layout is None:
        return None, problems
    return (
        Profile(
            name,
            layout,
            commands.get("test"),
            commands.get("reload"),
            tuple(dict.fromkeys(folders)),
            source=source,
            description=str(description),
            verify_settle=timings.get("verify_settle"),
            verify_grace=timings.get("verify_grace"),
        ),
        problems,
    )


def parse_profiles(text: str, source: str = "profiles.toml") -> dict[str, Profile]:
    """The profiles a file defines, or ProfilesError listing every problem with its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfilesError(source, [f"not valid TOML: {exc}"]) from None
    lines = text.splitlines()
    problems: list[str] = []
    for key in sorted(set(data) - {"profiles"}):
        problems.append(f"unknown top-level key {key!r}: profiles go in [profiles.NAME] tables")
    tables = data.get("profiles", {})
    if not isinstance(tables, Mapping):
        raise ProfilesError(source, [*problems, "'profiles' must hold [profiles.NAME] tables"])
    found: dict[str, Profile] = {}
    for name, table in tables.items():
        profile, more = _profile(name, table, lines, source)
        problems.extend(more)
        if profile is not None:
            found[name] = profile
    if problems:
        raise ProfilesError(source, problems)
    return found


@dataclass(frozen=True)
class ProfileBook:
    """The profiles in force: built-ins, overridden or added by the administrator's file."""

    profiles: Mapping[str, Profile] = field(default_factory=lambda: dict(BUILT_IN))
    error: ProfilesError | None = None  # the file's problems, when the last good copy is used
    local_connectors: bool = False  # CERTPUSH_LOCAL_CONNECTORS=on

    def get(self, name: str) -> Profile | None:
        return self.profiles.get(name)

    def names(self) -> list[str]:
        return sorted(self.profiles)


def combine(
    defined: Mapping[str, Profile], extra: Mapping[str, Profile] | None = None
) -> dict[str, Profile]:
    """Built-ins, then the file's profiles (a table named like a built-in changes the keys
    it gives, e.g. ``[profiles.nginx] folders = ["/srv/tls"]`` adapts it to the estate),
    then ``extra`` (profiles migrated from old connectors, never replacing a defined one)."""
    merged = dict(BUILT_IN)
    merged.update(defined)
    for name, profile in (extra or {}).items():
        merged.setdefault(name, profile)
    return merged
