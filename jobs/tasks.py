"""Carrying out tasks the web process queued (data/tasks.py), in the scheduler process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from data.config import Settings
from data.crypto import Vault
from data.db import engine_for, session_scope
from data.domain.connector_specs import EndpointSpec
from data.domain.errors import CertpushError, SealedValueError
from data.notifications import CHANNEL_TEST_TASK
from data.sealed import record_open_failure
from data.tasks import TASK_SECRET_CONTEXT, claim_next, finish_task, open_task_secret
from jobs.connectors.registry import connector_class
from jobs.keyring import job_vault

log = logging.getLogger("certpush.tasks")
MAX_PER_TICK = 20


def _test_connection(vault: Vault, payload: dict[str, Any]) -> dict[str, Any]:
    sealed = payload.get("sealed_secret")
    secret = open_task_secret(vault, sealed) if sealed else None
    endpoints = tuple(EndpointSpec(**e) for e in payload.get("endpoints", []))
    connector = connector_class(payload["type"])(
        settings=payload["settings"],
        secret=secret,
        secret_kind=payload.get("secret_kind"),
        endpoints=endpoints,
    )
    return connector.check().to_json()


def _test_stored(vault: Vault, payload: dict[str, Any]) -> dict[str, Any]:
    """A stored connector's connection test (the API's ``POST /connectors/{name}/test``):
    its secret is opened here, in the scheduler, never in the web process."""
    from data.connectors import get_connector, open_secret

    settings = Settings.from_env()
    with session_scope(settings.database_url) as session:
        info = get_connector(session, payload["name"])
        secret = open_secret(session, vault, info.name, actor="scheduler")
    connector = connector_class(info.type)(
        settings=info.settings,
        secret=secret,
        secret_kind=info.secret_kind,
        endpoints=info.endpoints,
    )
    return connector.check().to_json()


def _verify_now(_vault: Vault, payload: dict[str, Any]) -> dict[str, Any]:
    from jobs.verify import run_sweep

    settings = Settings.from_env()
    report = run_sweep(
        settings.database_url,
        certificate=payload.get("certificate"),
        concurrency=settings.verify_concurrency,
        timeout=settings.verify_timeout,
        processes=settings.verify_processes,
        trigger="ui",
        broker_url=settings.broker_url,
        broker_ca=settings.broker_ca,
    )
    return {
        "ok": True,
        "sweep_id": report.sweep_id,
        "summary": report.summary,
        "endpoints": len(report.endpoints),
        "message": f"{len(report.endpoints)} endpoint(s) checked",
    }


def _test_channel(vault: Vault, payload: dict[str, Any]) -> dict[str, Any]:
    """The Notifications page's Test button: the channel's URL is opened here, in the
    scheduler, and the requester's role is checked again (it may have changed since)."""
    from data.notifications import role_of, try_channel
    from jobs.notify.channels import send_channel

    settings = Settings.from_env()
    actor = str(payload.get("actor", ""))
    with session_scope(settings.database_url) as session:
        result = try_channel(
            session, vault, str(payload["name"]), actor=actor,
            role=role_of(session, actor) or "", now=datetime.now(UTC),
            send=lambda url, title, body: send_channel(url, title=title, body=body),
        )  # fmt: skip
    return result.to_json()


HANDLERS: dict[str, Callable[[Vault, dict[str, Any]], dict[str, Any]]] = {
    "connector.test": _test_connection,
    "connector.test.stored": _test_stored,
    "verify": _verify_now,
    CHANNEL_TEST_TASK: _test_channel,
}


def run_one_task(database_url: str, vault: Vault) -> bool:
    """Claim and run the oldest queued task; False when there was none."""
    with session_scope(database_url) as session:
        claimed = claim_next(session, datetime.now(UTC))
    if claimed is None:
        return False
    task_id, kind, payload = claimed
    try:
        handler = HANDLERS[kind]
        result = handler(vault, payload)
    except KeyError:
        result = {"ok": False, "message": f"unknown task kind {kind!r}"}
    except SealedValueError as exc:
        record_open_failure(engine_for(database_url), target=f"task {task_id} ({kind})",
                            context=TASK_SECRET_CONTEXT, error=exc, actor="scheduler")  # fmt: skip
        result = {"ok": False, "message": str(exc)}
    except CertpushError as exc:
        result = {"ok": False, "message": str(exc)}
    except Exception as exc:  # the task is answered whatever happens
        log.exception("task %s (%s) failed", task_id, kind)
        result = {"ok": False, "message": f"internal error: {type(exc).__name__}"}
    with session_scope(database_url) as session:
        finish_task(session, task_id, result, datetime.now(UTC))
    return True


def drain_tasks() -> None:
    """Scheduler job (module level, so APScheduler can store it): run what is queued."""
    settings = Settings.from_env()
    vault = job_vault(settings)
    if vault is None:
        return
    for _ in range(MAX_PER_TICK):
        if not run_one_task(settings.database_url, vault):
            return
