"""The device profiles in force: built-ins, the administrator's file, migrated ones.

Read fresh on every use (the file is small), so an administrator's edit applies without
a restart and no process keeps mutable state. A broken file never takes the profiles
away: its problems are reported (``certpush profiles check``, start-up, the connector
form) and the last good copy, kept beside the instance's data, stays in force.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data import audit
from data.config import Settings
from data.domain.errors import NotFound, PermissionDenied
from data.domain.profiles import Layout as Layout
from data.domain.profiles import (
    Profile,
    ProfileBook,
    ProfilesError,
    combine,
    parse_profiles,
)
from data.models import MigratedProfile

log = logging.getLogger("certpush.profiles")
LAST_GOOD = "profiles.last-good.toml"


def _last_good(settings: Settings) -> Path:
    return settings.instance_dir / LAST_GOOD


def check_file(path: Path) -> dict[str, Profile]:
    """Parse the administrator's file; ProfilesError (with line numbers) when it is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfilesError(str(path), [f"cannot read it: {exc}"]) from None
    return parse_profiles(text, source=str(path))


def _remember(settings: Settings, path: Path) -> None:
    """Keep a copy of the file as last known good (atomic; best effort)."""
    target = _last_good(settings)
    with contextlib.suppress(OSError):
        text = path.read_bytes()
        if target.exists() and target.read_bytes() == text:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(text)
        os.replace(tmp, target)


def migrated_profiles(session: Session) -> dict[str, Profile]:
    """Profiles certpush stored itself: migrated from old connectors' free commands (for an
    admin's review), or the demo's (which names its own instance's folders)."""
    found = {}
    for row in session.scalars(select(MigratedProfile)):
        definition = json.loads(row.definition)
        found[row.name] = Profile(
            row.name,
            Layout(definition["layout"]),
            tuple(definition["test"]) if definition.get("test") else None,
            tuple(definition["reload"]) if definition.get("reload") else None,
            tuple(definition.get("folders") or ()),
            source=definition.get("source", "migrated"),
            description=definition.get("description", ""),
            needs_review=row.needs_review,
        )
    return found


def load_book(settings: Settings, session: Session | None = None) -> ProfileBook:
    """The profiles in force now. With a session, profiles migrated from old connectors too."""
    path = settings.profiles_path
    error: ProfilesError | None = None
    try:
        defined = check_file(path)
        if path.exists():
            _remember(settings, path)
    except ProfilesError as exc:
        error = exc
        log.error("device profiles: %s; the last good profiles stay in force", exc)
        try:
            defined = check_file(_last_good(settings))
        except ProfilesError:
            defined = {}
    extra = migrated_profiles(session) if session is not None else {}
    return ProfileBook(combine(defined, extra), error, settings.local_connectors)


def store_profile(
    session: Session, name: str, definition: dict, *, now: datetime, needs_review: bool = False
) -> None:
    """Create or replace a stored profile (the demo's; a migration writes its own rows)."""
    text = json.dumps(definition, sort_keys=True)
    row = session.get(MigratedProfile, name)
    if row is None:
        session.add(MigratedProfile(name=name, definition=text, needs_review=needs_review,
                                    created_at=now))  # fmt: skip
    elif row.definition != text:
        row.definition = text
    session.flush()


def review_profile(session: Session, name: str, *, actor: str, role: str, now: datetime) -> Profile:
    """An admin has looked at a migrated profile's commands: it no longer needs review."""
    if role != "admin":
        raise PermissionDenied(f"{actor} ({role}) may not review device profiles: admins only")
    row = session.get(MigratedProfile, name)
    if row is None:
        raise NotFound(f"no migrated profile named {name!r}")
    session.execute(
        update(MigratedProfile)
        .where(MigratedProfile.name == name)
        .values(needs_review=False, reviewed_by=actor, reviewed_at=now)
    )
    audit.record(session, actor=actor, action="profile.review", now=now, target=name,
                 detail=row.definition)  # fmt: skip
    session.flush()
    return migrated_profiles(session)[name]


def book_for(session: Session | None = None) -> ProfileBook:
    """The profiles in force for this process's settings (CERTPUSH_PROFILES_FILE...)."""
    return load_book(Settings.from_env(), session)
