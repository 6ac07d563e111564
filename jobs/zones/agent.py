"""``certpush agent --zone NAME --state DIR``: a worker inside a zone.

It holds no database credentials and opens only outbound connections, to the broker.
On first start it makes its key pair in ``DIR`` (data/envelopes.py); every heartbeat
(which is also its enrolment request) is signed with it. It consumes only its zone's
queue, and only tasks sealed to it can be opened by it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

from celery import Celery

from data.domain.zones import HEARTBEAT_SECONDS, check_agent_name, check_zone
from data.envelopes import AgentKeys
from jobs.zones.broker import CENTRAL_QUEUE, HELLO_TASK, celery_app, route, send, zone_queue

log = logging.getLogger("certpush.agent")
VERSION = "1"
NAME_FILE = "agent-name"


def agent_name(state: Path, wanted: str | None) -> str:
    """The agent's name: given once, then kept in its state folder."""
    path = state / NAME_FILE
    if path.exists():
        kept = path.read_text().strip()
        if wanted and wanted != kept:
            raise SystemExit(f"{state} belongs to agent {kept!r}, not {wanted!r}")
        return check_agent_name(kept)
    name = check_agent_name(wanted or socket.gethostname().split(".")[0].lower()[:32])
    state.mkdir(parents=True, exist_ok=True)
    path.write_text(name + "\n")
    return name


class Agent:
    """One agent process: its identity, its zone, its Celery app and heartbeats."""

    def __init__(
        self,
        broker_url: str,
        zone: str,
        state: Path,
        name: str | None = None,
        broker_ca: Path | None = None,
    ):
        self.zone = check_zone(zone)
        self.state = state
        self.name = agent_name(state, name)
        self.keys = AgentKeys.load_or_create(state)
        self.app: Celery = celery_app(broker_url, f"certpush-agent-{self.name}", broker_ca)
        self.in_flight = 0
        self._stop = threading.Event()
        self._register_tasks()

    def _register_tasks(self) -> None:
        from jobs.zones.preflight import PREFLIGHT_TASK
        from jobs.zones.probes import PROBE_TASK
        from jobs.zones.pushes import PUSH_TASK

        @self.app.task(name=PROBE_TASK, ignore_result=True)
        def probe_batch(batch: dict) -> str:
            return self.probe_batch(batch)

        @self.app.task(name=PUSH_TASK, ignore_result=True, bind=True)
        def push(task, job: dict) -> str:
            info = task.request.delivery_info or {}
            return self.push(job, redelivered=bool(info.get("redelivered")))

        @self.app.task(name=PREFLIGHT_TASK, ignore_result=True)
        def preflight(job: dict) -> str:
            return self.preflight(job)

    def _answer(self, job: dict, kind: str, results: dict) -> None:
        from jobs.zones.probes import RESULTS_TASK

        body = {
            "type": kind,
            "agent": self.name,
            "zone": self.zone,
            "batch_id": job.get("batch_id") or job.get("job_id"),
            "results": results,
        }
        # Waits out a restart; declares nothing (the agent's broker user may not).
        send(self.app, RESULTS_TASK, self.keys.sign(body), CENTRAL_QUEUE, declare=False)

    def push(self, job: dict, *, redelivered: bool = False) -> str:
        """Install (or roll back) a plan with the secrets sealed to this agent, then answer.

        The same connector code as the scheduler's; an install sent again finds the
        certificate already there (``already_installed``). When RabbitMQ redelivers it
        (the agent that had it died), the files may be in place but never reloaded, so the
        device's test and reload run again."""
        import json as _json

        from data.envelopes import EnvelopeError, unb64
        from data.push_plans import FILE_TYPES
        from jobs.connectors.base import (
            FailureClass,
            InstallOutcome,
            InstallPlan,
            InstallResult,
            Material,
        )
        from jobs.connectors.registry import connector_class

        if job.get("zone") != self.zone:
            log.warning(
                "job %s is for zone %s, not %s", job.get("job_id"), job.get("zone"), self.zone
            )
            return "refused: another zone's job"
        self.in_flight += 1
        try:
            try:
                envelope = job["envelope"]
                if envelope.get("context") != job.get("context"):
                    raise EnvelopeError("the envelope was sealed for another job")
                secrets = _json.loads(self.keys.open(envelope))
            except (EnvelopeError, KeyError, ValueError) as exc:
                result = InstallResult(
                    InstallOutcome.FAILED, f"agent {self.name}: {exc}", FailureClass.UNKNOWN
                )
            else:
                material = None
                if secrets.get("cert_pem"):
                    material = Material(
                        secrets["fingerprint"],
                        unb64(secrets["cert_pem"]),
                        unb64(secrets["key_pem"]),
                        unb64(secrets.get("chain_pem") or ""),
                    )
                secret = unb64(secrets["secret"]) if secrets.get("secret") else None
                connector = job["connector"]
                plan = job["plan"]
                implementation = connector_class(connector["type"])(
                    settings=connector["settings"],
                    secret=secret,
                    secret_kind=connector.get("secret_kind"),
                    plan=InstallPlan.from_plan(plan) if connector["type"] in FILE_TYPES else None,
                )
                try:
                    if job.get("kind") == "rollback":
                        result = implementation.rollback()
                    elif redelivered and connector["type"] in FILE_TYPES:
                        result = implementation.install(material, reload_if_present=True)
                    else:
                        result = implementation.install(material)
                except Exception as exc:  # the answer must come back whatever broke
                    result = InstallResult(
                        InstallOutcome.FAILED,
                        f"the connector crashed: {type(exc).__name__}",
                        FailureClass.UNKNOWN,
                    )
        finally:
            self.in_flight -= 1
        self._answer(
            job,
            "push_result",
            {
                "outcome": result.outcome.value,
                "failure": result.failure.value if result.failure else None,
                "reason": result.reason,
                "restored_fingerprint": result.restored_fingerprint,
            },
        )
        return f"job {job.get('job_id')}: {result.outcome.value}"

    def preflight(self, job: dict) -> str:
        """Check the device's side of a plan from inside the zone (jobs.preflight.device_facts)
        with the connector's credential sealed to this agent, then answer.

        Nothing on the device changes, so a redelivered check simply runs again."""
        import json as _json

        from data.domain.preflight import Check, CheckStatus
        from data.envelopes import EnvelopeError, unb64
        from jobs.preflight import device_facts
        from jobs.zones.probes import result_json

        if job.get("zone") != self.zone:
            log.warning(
                "job %s is for zone %s, not %s", job.get("job_id"), job.get("zone"), self.zone
            )
            return "refused: another zone's job"
        plan = job.get("plan") or {}
        self.in_flight += 1
        try:
            try:
                secrets = {}
                if job.get("envelope") is not None:
                    if job["envelope"].get("context") != job.get("context"):
                        raise EnvelopeError("the envelope was sealed for another job")
                    secrets = _json.loads(self.keys.open(job["envelope"]))
                secret = unb64(secrets["secret"]) if secrets.get("secret") else None
                ssh, folders, probed = device_facts(
                    plan, secret, secrets.get("kind"), float(job.get("timeout", 5.0))
                )
            except Exception as exc:  # the answer must come back whatever broke
                why = f"agent {self.name} could not check the device: {type(exc).__name__}"
                if isinstance(exc, EnvelopeError):
                    why = f"agent {self.name}: {exc}"
                answer = {
                    "ssh": Check("ssh", CheckStatus.BLOCKER, why).to_json(),
                    "folders": Check("folders", CheckStatus.BLOCKER, why).to_json(),
                    "probes": [],
                }
            else:
                answer = {
                    "ssh": ssh.to_json(),
                    "folders": folders.to_json(),
                    "probes": [result_json(r) for r in probed],
                }
        finally:
            self.in_flight -= 1
        self._answer(job, "preflight_result", answer)
        return f"job {job.get('job_id')}: preflight {answer['ssh']['status']}"

    def probe_batch(self, batch: dict) -> str:
        """Probe a batch of this zone's endpoints and send the signed answers back.

        A redelivered batch is probed again and answered again: the central side keeps
        the first answer."""
        from data.domain.connector_specs import EndpointSpec
        from jobs.probe import probe_many
        from jobs.zones.probes import result_json

        if batch.get("zone") != self.zone:  # strict routing: never another zone's work
            log.warning(
                "batch %s is for zone %s, not %s",
                batch.get("batch_id"),
                batch.get("zone"),
                self.zone,
            )
            return "refused: another zone's batch"
        targets = batch.get("targets") or []
        self.in_flight += len(targets)
        try:
            found = probe_many(
                (
                    (t["key"], EndpointSpec(t["host"], int(t["port"]), t.get("sni")), t["expected"])
                    for t in targets
                ),
                concurrency=int(os.environ.get("CERTPUSH_VERIFY_CONCURRENCY", 128)),
                timeout=float(batch.get("timeout", 5.0)),
            )
        finally:
            self.in_flight -= len(targets)
        self._answer(batch, "probe_results", {str(key): result_json(r) for key, r in found.items()})
        return f"batch {batch.get('batch_id') or batch.get('job_id')}: {len(found)} endpoint(s)"

    def hello_message(self) -> dict:
        body = {
            "type": "hello",
            "agent": self.name,
            "zone": self.zone,
            "identity": self.keys.public.to_json(),
            "version": VERSION,
            "in_flight": self.in_flight,
            "at": datetime.now(UTC).isoformat(),
        }
        return self.keys.sign(body)

    def send_hello(self) -> None:
        self.app.send_task(
            HELLO_TASK, args=[self.hello_message()], **route(CENTRAL_QUEUE, declare=False)
        )

    def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_hello()
            except Exception as exc:  # the broker may be away: keep trying
                log.warning("heartbeat not sent: %s", exc)
            self._stop.wait(float(os.environ.get("CERTPUSH_AGENT_HEARTBEAT", HEARTBEAT_SECONDS)))

    def run(self) -> None:
        """Send heartbeats and consume the zone's queue until stopped."""
        log.info(
            "agent %s in zone %s, key fingerprint %s",
            self.name,
            self.zone,
            self.keys.public.fingerprint,
        )
        threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()
        try:
            self.app.worker_main(
                [
                    "worker",
                    "-Q",
                    zone_queue(self.zone),
                    "--pool",
                    "solo",
                    "--loglevel",
                    "INFO",
                    "--without-mingle",
                    "--without-gossip",
                    "-n",
                    f"{self.name}@%h",
                ]
            )
        finally:
            self._stop.set()
