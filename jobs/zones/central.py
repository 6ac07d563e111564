"""``certpush central``: the central worker, the only side with the database.

It consumes ``certpush.central``: agents' heartbeats (which enrol new agents as
pending) and, as zones take work, their signed results. Every message is checked
(signature, agent approved) before anything is written; refusals are audited.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from data.config import Settings
from jobs.zones.broker import CENTRAL_QUEUE, HELLO_TASK, celery_app, check_broker_trust

log = logging.getLogger("certpush.central")


def handle_hello(database_url: str, message: Any, now: datetime | None = None) -> str:
    """Record an agent's heartbeat (or its enrolment); a refusal is audited, not raised:
    a bad message must not be redelivered forever."""
    from data.agents import hello
    from data.db import session_scope
    from data.domain.errors import CertpushError
    from data.domain.zones import ZoneError

    try:
        with session_scope(database_url) as session:
            info = hello(session, message, now=now or datetime.now(UTC))
            return f"{info.name} ({info.zone}) {info.state.value}"
    except CertpushError as exc:
        log.warning("agent message refused: %s", exc)
        action = "agent.hello.refused" if isinstance(exc, ZoneError) else "agent.message.refused"
        _audit_refusal(database_url, message, action, str(exc), now)
        return f"refused: {exc}"


def _audit_refusal(
    database_url: str, message: Any, action: str, why: str, now: datetime | None
) -> None:
    from data import audit
    from data.db import session_scope

    body = message.get("body") if isinstance(message, dict) else None
    name = str(body.get("agent", ""))[:64] if isinstance(body, dict) else ""
    with session_scope(database_url) as session:
        audit.record(
            session,
            actor="central",
            action=action,
            now=now or datetime.now(UTC),
            target=name,
            detail=why[:500],
        )


def handle_results(database_url: str, message: Any, now: datetime | None = None) -> str:
    """Store an agent's probe results; a refusal (forged, revoked, another zone's batch)
    is audited, not raised."""
    from data.domain.errors import CertpushError
    from jobs.zones.probes import store_results

    try:
        return store_results(database_url, message, now or datetime.now(UTC))
    except CertpushError as exc:
        log.warning("agent results refused: %s", exc)
        _audit_refusal(database_url, message, "agent.message.refused", str(exc), now)
        return f"refused: {exc}"


def central_app(settings: Settings) -> Celery:
    from jobs.zones.probes import RESULTS_TASK

    app = celery_app(settings.broker_url or "", ca_file=settings.broker_ca)

    @app.task(name=HELLO_TASK, ignore_result=True)
    def hello_task(message: Any) -> str:
        return handle_hello(settings.database_url, message)

    @app.task(name=RESULTS_TASK, ignore_result=True)
    def results_task(message: Any) -> str:
        return handle_results(settings.database_url, message)

    return app


def run_central(settings: Settings) -> None:
    """Consume the central queue until stopped (one process; threads for concurrency).

    Raises BrokerUntrusted when the broker's TLS certificate does not verify."""
    app = central_app(settings)
    check_broker_trust(app)
    app.worker_main(
        [
            "worker",
            "-Q",
            CENTRAL_QUEUE,
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "-n",
            "central@%h",
        ]
    )
