"""``certpush agents`` (enrolled zone agents), ``certpush agent`` and ``certpush central``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import AsUser, actor_and_role, fail, require_schema, utc_now

app = typer.Typer(
    help="Zone agents: list, approve, revoke; their broker users.", no_args_is_help=True
)


def _broker(settings: Settings) -> str:
    if not settings.broker_url:
        raise fail("set CERTPUSH_BROKER_URL (amqps://user:password@host:5671/vhost) first")
    if settings.broker_ca and not settings.broker_ca.is_file():
        raise fail(f"CERTPUSH_BROKER_CA: no file {settings.broker_ca}")
    return settings.broker_url


@app.command("list")
def agents_list(
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every enrolled agent: zone, state, key fingerprint, version, last heartbeat, work."""
    from data.agents import list_agents
    from data.db import session_scope

    settings = Settings.from_env()
    require_schema(settings)
    now = utc_now()
    with session_scope(settings.database_url) as session:
        agents = [a.to_json(now) for a in list_agents(session, zone)]
    if as_json:
        typer.echo(json.dumps(agents, indent=1))
        return
    for a in agents:
        seen = a["last_heartbeat"] or "never"
        alive = "live" if a["live"] else "silent"
        typer.echo(
            f"{a['name']:20} {a['zone']:12} {a['state']:9} {alive:6} {seen}  {a['fingerprint']}"
        )


def _decide(name: str, as_user: str | None, approve: bool) -> None:
    from data import agents
    from data.db import session_scope

    settings = Settings.from_env()
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user)
            service = agents.approve if approve else agents.revoke
            info = service(session, name, actor=actor, role=role, now=utc_now())
    except CertpushError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"agent {info.name} ({info.zone}) is {info.state.value}; key {info.fingerprint}")


@app.command("approve")
def agents_approve(name: Annotated[str, typer.Argument()], as_user: AsUser = None) -> None:
    """Trust a pending agent (check its key fingerprint first): it then gets its zone's work."""
    _decide(name, as_user, approve=True)


@app.command("revoke")
def agents_revoke(name: Annotated[str, typer.Argument()], as_user: AsUser = None) -> None:
    """Stop trusting an agent: no more work, and its results are refused."""
    _decide(name, as_user, approve=False)


@app.command("broker-permissions")
def agents_broker_permissions(
    zone: Annotated[str | None, typer.Argument(help="The zone whose agents' user to make.")] = None,
    central: Annotated[
        bool, typer.Option("--central", help="The central side's user instead.")
    ] = False,
    vhost: Annotated[str, typer.Option(help="The RabbitMQ virtual host.")] = "/",
) -> None:
    """Print the rabbitmqctl commands for a zone's broker user: its own queue only, plus
    publishing to certpush.central (never reading it). Run them on the broker."""
    from data.domain.broker_permissions import central_permissions, zone_permissions

    if (zone is None) == (not central):
        raise fail("name a zone, or give --central (not both)")
    try:
        permissions = central_permissions(vhost=vhost) if central else zone_permissions(zone, vhost)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    for line in permissions.rabbitmqctl():
        typer.echo(line)


def agent_command(
    zone: Annotated[str, typer.Option(help="The zone this agent serves.")],
    state: Annotated[Path, typer.Option(help="Its state folder (keys, name); keep it.")],
    name: Annotated[str | None, typer.Option(help="Its name (default: the host name).")] = None,
) -> None:
    """Run a zone agent: a Celery worker on the zone's queue, with outbound connections to
    the broker only (no database). It enrols on first start; an admin approves it."""
    import logging

    from jobs.zones.agent import Agent
    from jobs.zones.broker import BrokerUntrusted, check_broker_trust

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    try:
        agent = Agent(_broker(settings), zone, state, name, settings.broker_ca)
        check_broker_trust(agent.app)
    except (CertpushError, BrokerUntrusted) as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"agent {agent.name} (zone {agent.zone}) key fingerprint {agent.keys.public.fingerprint}"
    )
    agent.run()


def central_command() -> None:
    """Run the central worker: agents' heartbeats and results into the database. Without
    CERTPUSH_BROKER_URL there are no agents: it says so and waits (the Procfile may keep
    it in every deployment)."""
    import logging
    import signal

    from jobs.zones.broker import BrokerUntrusted
    from jobs.zones.central import run_central

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    if not settings.broker_url:
        typer.echo("no CERTPUSH_BROKER_URL: every zone runs in the scheduler; nothing to do")
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
        return
    _broker(settings)
    require_schema(settings)
    try:
        run_central(settings)
    except BrokerUntrusted as exc:
        raise fail(str(exc)) from None
