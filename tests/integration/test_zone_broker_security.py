"""The broker's own security, on a private RabbitMQ of this module's (users and TLS):

- a zone's broker user made with exactly the commands ``certpush agents
  broker-permissions`` prints lets that zone's agent enrol and answer its zone's sweep,
  and nothing more: it can read neither another zone's queue nor ``certpush.central``
  (other agents' results), and cannot reach other queues through the default exchange;
- over ``amqps://`` the agent and central verify the broker's certificate against
  CERTPUSH_BROKER_CA: the right CA works, a wrong CA (or the system store, or an address
  the certificate does not name) is refused, and the agent stops saying why.
"""

from __future__ import annotations

import hashlib
import shlex
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import amqp
import pytest
from amqp.exceptions import AccessRefused
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kombu import Connection

from data.db import session_scope
from jobs.verify import run_sweep
from jobs.zones.broker import CENTRAL_QUEUE, celery_app, send, zone_queue
from tests import broker as rabbit
from tests.broker import write_tls_files
from tests.integration.test_zone_sweeps import _pushed, _results
from tests.zones import agent_process, agents_by_name, cli_env, trusted_agent, wait_for

pytestmark = pytest.mark.skipif(not rabbit.available(), reason="needs rabbitmq-server and root")
PASSWORDS = {"certpush-central": "central-pw", "certpush-zone-a": "zone-a-pw"}


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[rabbit.Broker]:
    """A broker of this module's own: plain and ``amqps://`` listeners, users made here."""
    started = rabbit.start_broker(tls=True)
    yield started
    started.stop()


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def _apply_recipe(broker: rabbit.Broker, *args: str) -> str:
    """Run the rabbitmqctl lines ``certpush agents broker-permissions ARGS`` prints, as an
    admin would (the password typed where add_user asks for it); returns the user."""
    lines = _cli("agents", "broker-permissions", *args).strip().splitlines()
    user = ""
    for line in lines:
        command = shlex.split(line)
        assert command[0] == "rabbitmqctl", line
        if command[1] == "add_user":
            user = command[2]
            existing = broker.ctl("list_users", "--quiet", "--no-table-headers", check=True)
            if user in existing.split():
                continue  # made by an earlier test of this module
            broker.ctl(*command[1:], input=PASSWORDS[user] + "\n", check=True)
        else:
            broker.ctl(*command[1:], check=True)
    return user


@pytest.fixture(scope="module")
def users(tls_broker) -> dict[str, str]:
    """The central user and zone a's user, each from the recipe; their plain URLs."""
    central = _apply_recipe(tls_broker, "--central")
    zone_a = _apply_recipe(tls_broker, "a")
    return {
        "central": tls_broker.url_for(central, PASSWORDS[central]),
        "a": tls_broker.url_for(zone_a, PASSWORDS[zone_a]),
    }


def _central(settings, broker_url: str, log: Path, broker_ca: Path | None = None):
    env = cli_env(settings, broker_url)
    if broker_ca:
        env["CERTPUSH_BROKER_CA"] = str(broker_ca)
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "central"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _served_fingerprint(broker: rabbit.Broker) -> str:
    """The SHA-256 of the certificate the broker's TLS listener serves."""
    cert = x509.load_pem_x509_certificate((broker.folder / "tls" / "server.pem").read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_the_printed_permissions_are_the_tested_ones():
    said = _cli("agents", "broker-permissions", "a")
    assert said.splitlines() == [
        "rabbitmqctl add_user certpush-zone-a",
        "rabbitmqctl set_permissions -p / certpush-zone-a '^certpush\\.zone\\.a$' "
        "'^(certpush\\.central|certpush\\.zone\\.a)$' '^certpush\\.zone\\.a$'",
    ]


def test_a_zone_user_enrols_its_agent_and_answers_its_zones_sweep(
    sqlite_settings, tls_broker, users, tmp_path
):
    # The TLS listener of the broker doubles as the zone's device: the agent probes it.
    with session_scope(sqlite_settings.database_url) as db:
        _pushed(db, "web-a", "a", tls_broker.tls_port, _served_fingerprint(tls_broker))
    central = _central(sqlite_settings, users["central"], tmp_path / "central.log")
    try:
        agent = trusted_agent(sqlite_settings, users["a"], "a", "a-1", tmp_path)
        try:
            report = run_sweep(
                sqlite_settings.database_url,
                broker_url=users["central"],
                timeout=3,
                processes=1,
                trigger="test",
            )
        finally:
            _stop(agent)
    finally:
        _stop(central)
    assert report.summary == {"match": 1}
    assert _results(sqlite_settings) == {"web-a": ("match", "a-1")}
    log = (tmp_path / "a-1.log").read_text()
    assert "ACCESS_REFUSED" not in log and "Unrecoverable" not in log


def test_a_zone_user_cannot_read_other_zones_or_central_nor_write_around(tls_broker, users):
    # The queues exist and hold a message each, sent by the central user.
    central = celery_app(users["central"], "test-central")
    send(central, "certpush.agent.probe_batch", {"zone": "b"}, zone_queue("b"))
    send(central, "certpush.central.hello", {}, CENTRAL_QUEUE)

    def attempt(action) -> str:
        with Connection(users["a"], transport_options={"confirm_publish": True}) as conn:
            channel = conn.channel()
            with pytest.raises(AccessRefused) as refused:
                action(channel)
            return str(refused.value)

    for queue in (zone_queue("b"), CENTRAL_QUEUE):
        said = attempt(lambda ch, q=queue: ch.basic_get(q))
        assert f"ACCESS_REFUSED - access to queue '{queue}'" in said
        said = attempt(lambda ch, q=queue: ch.basic_consume(q, callback=print))
        assert f"ACCESS_REFUSED - access to queue '{queue}'" in said
    # The default exchange reaches every queue: it stays shut to agents.
    said = attempt(
        lambda ch: ch.basic_publish(amqp.Message("x"), exchange="", routing_key=zone_queue("b"))
    )
    assert "access to exchange 'amq.default'" in said
    said = attempt(
        lambda ch: ch.basic_publish(
            amqp.Message("x"), exchange=zone_queue("b"), routing_key=zone_queue("b")
        )
    )
    assert f"access to exchange '{zone_queue('b')}'" in said
    said = attempt(lambda ch: ch.queue_bind(zone_queue("b"), zone_queue("a"), zone_queue("a")))
    assert f"access to queue '{zone_queue('b')}'" in said
    # Nothing was taken: both messages are still there for their owners.
    counts = dict(
        line.split("\t")
        for line in tls_broker.ctl(
            "list_queues", "name", "messages", "--quiet", "--no-table-headers"
        ).splitlines()
    )
    assert int(counts[zone_queue("b")]) >= 1 and int(counts[CENTRAL_QUEUE]) >= 1


def test_over_amqps_the_right_ca_enrols_and_a_wrong_one_is_refused(
    sqlite_settings, tls_broker, users, tmp_path
):
    tls = {name: url.replace("amqp://", "amqps://").replace(
        f":{tls_broker.port}/", f":{tls_broker.tls_port}/"
    ) for name, url in users.items()}  # fmt: skip
    assert all(u.startswith("amqps://") for u in tls.values())
    stranger = tmp_path / "stranger"  # another CA, as a wrong CERTPUSH_BROKER_CA would be
    stranger.mkdir()
    write_tls_files(stranger)
    wrong_ca = stranger / "tls" / "ca.pem"

    # A direct connection: the right CA passes; a wrong CA, the system store and an
    # address the certificate does not name are all refused.
    with celery_app(tls["a"], "t", tls_broker.ca_file).connection_for_write() as conn:
        conn.connect()
        assert conn.connection.sock.getpeercert()["subject"] == ((("commonName", "localhost"),),)
    elsewhere = tls["a"].replace(f"127.0.0.1:{tls_broker.tls_port}",
                                 f"127.0.0.2:{tls_broker.mismatch_port}")  # fmt: skip
    for url, ca, why in (
        (tls["a"], wrong_ca, "self-signed certificate in certificate chain"),
        (tls["a"], None, "self-signed certificate in certificate chain"),
        (elsewhere, tls_broker.ca_file, "mismatch"),
    ):
        with (
            celery_app(url, "t", ca).connection_for_write() as conn,
            pytest.raises(ssl.SSLCertVerificationError, match=why),
        ):
            conn.connect()

    # The agent with a wrong CA stops and says why; with the right one it enrols.
    refused = agent_process(tls["a"], "a", tmp_path / "a-bad", "a-bad", tmp_path / "bad.log",
                            broker_ca=wrong_ca)  # fmt: skip
    try:
        assert refused.wait(timeout=60) == 1
    finally:
        _stop(refused)
    said = (tmp_path / "bad.log").read_text()
    assert "the broker's TLS certificate is not trusted" in said and str(wrong_ca) in said
    assert "ready" not in said

    central = _central(sqlite_settings, tls["central"], tmp_path / "central.log",
                       tls_broker.ca_file)  # fmt: skip
    agent = agent_process(tls["a"], "a", tmp_path / "a-tls", "a-tls", tmp_path / "tls.log",
                          broker_ca=tls_broker.ca_file)  # fmt: skip
    try:
        enrolled = wait_for(lambda: agents_by_name(sqlite_settings).get("a-tls"), "enrolment")
    finally:
        _stop(agent, central)
    assert (enrolled.zone, enrolled.state.value) == ("a", "pending")
    assert "a-bad" not in agents_by_name(sqlite_settings)
    assert (
        f"Connected to amqps://certpush-zone-a:**@127.0.0.1:{tls_broker.tls_port}"
        in (tmp_path / "tls.log").read_text()
    )
