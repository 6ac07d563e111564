"""Who may do what on the broker: RabbitMQ permissions for a zone's agents and central.

RabbitMQ grants three regular expressions per user and virtual host, matched against
queue and exchange names: *configure* (declare, delete), *write* (publish to an
exchange, bind a queue) and *read* (consume from a queue, bind from an exchange).
Each queue here has a direct exchange of the same name (jobs/zones/broker.py), so one
name covers both. A zone's agent declares and consumes its own zone's queue and
publishes to ``certpush.central`` only; it can read neither the central queue (other
agents' results) nor another zone's jobs, and it cannot write to the default exchange
(which reaches every queue). Checked against a real broker in
tests/integration/test_zone_broker_security.py. Plain text, no I/O.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from data.domain.zones import CENTRAL_QUEUE, check_zone, zone_queue


@dataclass(frozen=True)
class BrokerPermissions:
    """One broker user's permission regexes on one virtual host."""

    user: str
    configure: str
    write: str
    read: str
    vhost: str = "/"

    def rabbitmqctl(self) -> list[str]:
        """The commands that create the user and grant exactly this. ``add_user`` without a
        password asks for it (keeps it out of the shell history and the process list)."""
        user, vhost = shlex.quote(self.user), shlex.quote(self.vhost)
        regexes = " ".join(shlex.quote(r) for r in (self.configure, self.write, self.read))
        return [
            f"rabbitmqctl add_user {user}",
            f"rabbitmqctl set_permissions -p {vhost} {user} {regexes}",
        ]


def _escape(name: str) -> str:
    """A queue name as a regex: only its dots are special (zone names are letters,
    digits and dashes, check_zone)."""
    if not re.fullmatch(r"[a-z0-9.-]+", name):
        raise ValueError(f"not a certpush queue name: {name!r}")
    return name.replace(".", r"\.")


def _exactly(*names: str) -> str:
    """A regex matching exactly these names (RabbitMQ searches, so it must be anchored)."""
    escaped = [_escape(n) for n in names]
    return f"^{escaped[0]}$" if len(escaped) == 1 else f"^({'|'.join(escaped)})$"


def zone_user(zone: str) -> str:
    """The broker user of one zone's agents."""
    return f"certpush-zone-{check_zone(zone)}"


def zone_permissions(zone: str, vhost: str = "/") -> BrokerPermissions:
    """A zone's agents: configure and read their zone's queue; write to it (the worker
    binds it to its exchange) and to ``certpush.central`` (heartbeats and results)."""
    own = zone_queue(check_zone(zone))
    return BrokerPermissions(
        user=zone_user(zone),
        configure=_exactly(own),
        write=_exactly(CENTRAL_QUEUE, own),
        read=_exactly(own),
        vhost=vhost,
    )


def central_permissions(user: str = "certpush-central", vhost: str = "/") -> BrokerPermissions:
    """The central side (central worker, scheduler, sweeps): every certpush queue, none
    other on the virtual host."""
    every = "^" + _escape("certpush.")
    return BrokerPermissions(user=user, configure=every, write=every, read=every, vhost=vhost)
