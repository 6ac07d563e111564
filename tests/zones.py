"""Helpers of the zone tests: an agent process with the broker URL only, waiting, reading
the agents and the audit trail back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from data.agents import list_agents
from data.db import session_scope
from data.models import AuditEvent


def cli_env(settings, broker_url: str) -> dict[str, str]:
    """The central side's environment: the database, the key and the broker."""
    return {
        **os.environ,
        "CERTPUSH_INSTANCE": str(settings.instance_dir),
        "DATABASE_URL": settings.database_url,
        "CERTPUSH_BROKER_URL": broker_url,
        "CERTPUSH_MASTER_KEY": settings.master_key or "",
        "CERTPUSH_AGENT_HEARTBEAT": "1",
    }


def agent_process(
    broker_url: str,
    zone: str,
    state: Path,
    name: str,
    log: Path,
    prefix: list[str] = (),
    broker_ca: Path | None = None,
) -> subprocess.Popen:
    """An agent as it runs in a zone: the broker URL (and CA) and nothing of the database.
    ``prefix`` runs it elsewhere, e.g. inside a network namespace (tests/netns.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTPUSH_", "DATABASE"))}
    env.update(
        CERTPUSH_BROKER_URL=broker_url,
        CERTPUSH_AGENT_HEARTBEAT="1",
        CERTPUSH_INSTANCE=str(state / "no-instance-here"),
    )
    if broker_ca:
        env["CERTPUSH_BROKER_CA"] = str(broker_ca)
    command = [*prefix, sys.executable, "-m", "jobs.cli", "agent", "--zone", zone,
               "--state", str(state), "--name", name]  # fmt: skip
    with open(log, "w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def agents_by_name(settings) -> dict:
    with session_scope(settings.database_url) as db:
        return {a.name: a for a in list_agents(db)}


def audited(settings, action: str) -> list[tuple[str, str]]:
    """(target, detail) of every audit event of ``action``."""
    with session_scope(settings.database_url) as db:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        return [(r.target, r.detail) for r in rows]


def trusted_agent(
    settings,
    broker_url: str,
    zone: str,
    name: str,
    folder: Path,
    prefix: list[str] = (),
    broker_ca: Path | None = None,
) -> subprocess.Popen:
    """An agent started, enrolled, approved by an admin and heard from: ready for work."""
    from datetime import UTC, datetime

    from data.agents import approve

    process = agent_process(broker_url, zone, folder / name, name, folder / f"{name}.log",
                            prefix, broker_ca)  # fmt: skip
    try:
        wait_for(lambda: agents_by_name(settings).get(name), f"{name}'s enrolment")
        with session_scope(settings.database_url) as db:
            approve(db, name, actor="adam", role="admin", now=datetime.now(UTC))
        wait_for(lambda: agents_by_name(settings)[name].live(datetime.now(UTC)), f"{name} live")
    except BaseException:  # never leave the agent behind when it did not get ready
        process.terminate()
        process.wait(timeout=20)
        raise
    return process
