"""The Celery application both sides share: queue names, routing and safe settings.

JSON only (a pickled message would run code in whoever reads it); late
acknowledgement, one message at a time and redelivery of a lost worker's message, so
work is never lost (every task is idempotent: a redelivered push finds the certificate
already installed). Routing is strict: a zone's tasks go to that zone's queue only.
"""

from __future__ import annotations

from celery import Celery

CENTRAL_QUEUE = "certpush.central"
HELLO_TASK = "certpush.central.hello"


def zone_queue(zone: str) -> str:
    return f"certpush.zone.{zone}"


# Sending waits out a short broker outage (a restart takes seconds), then gives up: the
# caller then counts the work as not delivered (zone_offline, or a push to retry).
SEND_RETRY = {"max_retries": 15, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}


def send(app: Celery, task: str, payload: dict, queue: str) -> None:
    """Publish ``payload`` for ``task`` on ``queue``; raises BrokerUnavailable when the
    broker cannot be reached even after SEND_RETRY."""
    from kombu.exceptions import OperationalError

    try:
        app.send_task(task, args=[payload], queue=queue, retry=True, retry_policy=SEND_RETRY)
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(f"the broker cannot be reached: {exc}") from None


class BrokerUnavailable(Exception):
    """The broker did not take a message."""


def celery_app(broker_url: str, name: str = "certpush") -> Celery:
    app = Celery(name, broker=broker_url)
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
