"""Preflight of a plan whose device sits in another zone, run by that zone's agents.

The central host cannot log in to such a device nor handshake with its endpoints, so
the device's side of the preflight (jobs.preflight.device_facts: the "ssh" and
"folders" checks and what every endpoint serves now) runs on an agent of the zone, with
the connector's credential sealed to the zone's approved agents. The checks of the
certificate itself (key, chain, validity, SNI) stay central: they need the private key,
which a preflight never sends.

A zone with no live agent gives warnings, not blockers: the approvers see that the
device was not checked, and the push checks again, through the agent, before it runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from data.domain.preflight import Check, CheckStatus
from jobs.probe import ProbeResult

PREFLIGHT_TASK = "certpush.agent.preflight"


def preflight_answer_json(data: dict[str, Any]) -> dict[str, Any]:
    """An agent's preflight answer, checked field by field (ValueError when malformed)."""
    from jobs.zones.probes import result_from_json, result_json

    ssh, folders = Check.from_json(data["ssh"]), Check.from_json(data["folders"])
    if (ssh.name, folders.name) != ("ssh", "folders"):
        raise ValueError("the answer must hold the ssh and folders checks")
    probes = data["probes"]
    if not isinstance(probes, list):
        raise ValueError("probes must be a list")
    return {
        "ssh": ssh.to_json(),
        "folders": folders.to_json(),
        "probes": [result_json(result_from_json(p)) for p in probes],
    }


def offline_facts(zone: str, why: str, endpoints: int):
    """What preflight says of a device whose zone could not be asked."""
    from jobs.zones.probes import offline

    note = (
        f"not checked: {why}; certpush checks the device through the zone's agent again "
        "right before the push"
    )
    return (
        Check("ssh", CheckStatus.WARNING, note),
        Check("folders", CheckStatus.WARNING, note),
        [offline(zone, why) for _ in range(endpoints)],
    )


def remote_device(
    database_url: str,
    broker_url: str,
    zone: str,
    *,
    work_order_id: int | None = None,
    broker_ca: Path | None = None,
) -> Callable[..., tuple[Check, Check, list[ProbeResult]]]:
    """A ``device`` for jobs.preflight.run_preflight that asks ``zone``'s agents.

    Its ``unseen`` attribute turns true when the zone could not be asked: the caller
    then marks the preflight to be run again before the push."""

    def device(plan: dict, secret: bytes | None, secret_kind: str | None, probe_timeout: float):
        from data.agents import zone_recipients
        from data.db import session_scope
        from data.envelopes import b64, seal
        from jobs.zones.probes import offline, result_from_json
        from jobs.zones.pushes import ZoneOffline, zone_job

        endpoints = len(plan.get("endpoints") or [])
        with session_scope(database_url) as session:
            recipients = zone_recipients(session, zone)
        context = f"preflight of plan {plan['certificate']['fingerprint'][:16]} in zone {zone}"
        secrets = {"secret": b64(secret) if secret is not None else None, "kind": secret_kind}
        timeouts = plan.get("timeouts") or {}
        seconds = (
            float(timeouts.get("connect") or 10)
            + float(timeouts.get("command") or 60)
            + probe_timeout * 2
            + 15
        )
        try:
            answer = zone_job(
                database_url,
                broker_url,
                zone,
                kind="preflight",
                task=PREFLIGHT_TASK,
                payload={
                    "plan": plan,
                    "context": context,
                    "timeout": probe_timeout,
                    "envelope": seal(json.dumps(secrets).encode(), recipients, context)
                    if recipients
                    else None,
                },
                seconds=seconds,
                work_order_id=work_order_id,
                endpoints=endpoints,
                broker_ca=broker_ca,
            )
        except ZoneOffline as exc:
            device.unseen = True
            return offline_facts(zone, str(exc), endpoints)
        if answer is None:
            device.unseen = True
            return offline_facts(zone, f"zone {zone}: no agent answered in time", endpoints)
        agent, data = answer
        probes = [result_from_json(p) for p in data["probes"]]
        if len(probes) != endpoints:  # never guess which endpoint an answer belongs to
            probes = [offline(zone, f"agent {agent} did not probe it") for _ in range(endpoints)]
        ssh, folders = Check.from_json(data["ssh"]), Check.from_json(data["folders"])
        by = f" (checked by agent {agent} in zone {zone})"
        return (
            Check(ssh.name, ssh.status, ssh.message + by),
            Check(folders.name, folders.status, folders.message + by),
            probes,
        )

    device.unseen = False
    return device
