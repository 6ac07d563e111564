"""The Celery application both sides share: queue names, routing and safe settings.

JSON only (a pickled message would run code in whoever reads it); late
acknowledgement, one message at a time and redelivery of a lost worker's message, so
work is never lost (every task is idempotent: a redelivered push finds the certificate
already installed). Routing is strict: a zone's tasks go to that zone's queue only.

Every message goes through the direct exchange named like its queue, never through the
default exchange: a broker user allowed to write to ``amq.default`` could put a message
on any queue, so a zone's agent (data/domain/broker_permissions.py) may write only to
``certpush.central`` and its own zone. Agents declare nothing but their own zone's
queue; the central worker declares ``certpush.central``.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from celery import Celery

from data.domain.zones import CENTRAL_QUEUE, zone_queue

__all__ = ["CENTRAL_QUEUE", "HELLO_TASK", "celery_app", "route", "send", "zone_queue"]
HELLO_TASK = "certpush.central.hello"


# Sending waits out a short broker outage (a restart takes seconds), then gives up: the
# caller then counts the work as not delivered (zone_offline, or a push to retry).
SEND_RETRY = {"max_retries": 15, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}


def route(queue: str, declare: bool = True) -> dict[str, Any]:
    """``send_task`` options for ``queue``: through its own exchange. Without ``declare``
    nothing is declared first (a zone's agent may not configure ``certpush.central``);
    the queue's owner must have declared it, else the broker refuses the message."""
    options: dict[str, Any] = {"queue": queue, "exchange": queue, "routing_key": queue}
    if not declare:
        options["declare"] = []
    return options


def send(app: Celery, task: str, payload: dict, queue: str, declare: bool = True) -> None:
    """Publish ``payload`` for ``task`` on ``queue`` (see ``route``); raises
    BrokerUnavailable when the broker cannot be reached even after SEND_RETRY."""
    from kombu.exceptions import OperationalError

    try:
        app.send_task(
            task, args=[payload], retry=True, retry_policy=SEND_RETRY, **route(queue, declare)
        )
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(f"the broker cannot be reached: {exc}") from None


class BrokerUnavailable(Exception):
    """The broker did not take a message."""


class BrokerUntrusted(Exception):
    """The broker's TLS certificate failed verification: a wrong CA, host name or broker."""


def tls_options(ca_file: Path | None) -> dict[str, Any]:
    """py-amqp's TLS settings: the certificate verified against ``ca_file`` (the system
    store when None) and its name against the URL's host (kombu puts the host in place
    of ``server_hostname: None``; without it py-amqp checks no name)."""
    return {
        "cert_reqs": ssl.CERT_REQUIRED,
        "ca_certs": str(ca_file) if ca_file else None,
        "server_hostname": None,
    }


def check_broker_trust(app: Celery) -> None:
    """Connect once and raise BrokerUntrusted if the broker's certificate is refused.

    A broker that is down is not an error here (the worker waits for it); a certificate
    that does not verify will not get better by retrying, so the process should stop
    and say why rather than retry forever."""
    with app.connection_for_write() as connection:
        try:
            connection.connect()
        except ssl.SSLCertVerificationError as exc:
            ca = (app.conf.broker_use_ssl or {}).get("ca_certs") or "the system store"
            raise BrokerUntrusted(
                f"the broker's TLS certificate is not trusted ({exc.verify_message}); "
                f"checked against {ca} (CERTPUSH_BROKER_CA)"
            ) from None
        except Exception:  # down, or refusing the login: the worker retries and logs it
            return


def celery_app(broker_url: str, name: str = "certpush", ca_file: Path | None = None) -> Celery:
    """The shared Celery app; an ``amqps://`` URL verifies the broker (``tls_options``)."""
    app = Celery(name, broker=broker_url)
    if broker_url.startswith("amqps://"):
        app.conf.broker_use_ssl = tls_options(ca_file)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        task_create_missing_queues=True,
        task_default_queue=CENTRAL_QUEUE,
        worker_send_task_events=False,
        worker_enable_remote_control=False,  # no pidbox queues: agents get only their own
    )
    return app
