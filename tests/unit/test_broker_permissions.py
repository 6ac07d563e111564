"""A zone's broker user: which queue and exchange names each of its three RabbitMQ
regexes lets through (RabbitMQ searches a name with the regex, as ``re.search`` does),
and the rabbitmqctl lines an admin runs. The broker itself is tried in
tests/integration/test_zone_broker_security.py."""

from __future__ import annotations

import re
import shlex

import pytest

from data.domain.broker_permissions import central_permissions, zone_permissions
from data.domain.zones import ZoneError

NAMES = [
    "certpush.zone.a",
    "certpush.zone.b",
    "certpush.zone.ab",
    "certpush.zone.a-b",
    "certpush.zone.aXb",
    "xcertpush.zone.a",
    "certpush.zone.a.x",
    "certpush.central",
    "certpush.centralx",
    "certpushXcentral",
    "amq.default",
    "",  # how RabbitMQ names the default exchange in some checks
    "celeryev",
    "celery.pidbox",
    "other.app",
]


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [
        ("configure", {"certpush.zone.a"}),  # declare its own queue and exchange only
        ("write", {"certpush.zone.a", "certpush.central"}),  # bind its own; publish to central
        ("read", {"certpush.zone.a"}),  # consume its own queue only
    ],
)
def test_zone_a_reaches_exactly_its_own_queue_and_central(kind, allowed):
    regex = getattr(zone_permissions("a"), kind)
    assert {n for n in NAMES if re.search(regex, n)} == allowed


def test_a_zone_with_dashes_needs_no_escaping_but_its_dots_do():
    p = zone_permissions("dmz-eu")
    assert p.read == r"^certpush\.zone\.dmz-eu$"
    assert re.search(p.read, "certpush.zone.dmz-eu")
    assert not re.search(p.read, "certpush.zone.dmz-eux")
    assert not re.search(p.read, "certpushXzoneXdmz-eu")


def test_central_reaches_every_certpush_queue_and_nothing_else():
    regex = central_permissions().configure
    assert central_permissions().write == central_permissions().read == regex
    assert {n for n in NAMES if re.search(regex, n)} == {
        n for n in NAMES if n.startswith("certpush.")
    }


def test_the_rabbitmqctl_lines_carry_the_regexes_unchanged_through_the_shell():
    p = zone_permissions("dc2", vhost="/certpush")
    add_user, grant = p.rabbitmqctl()
    assert shlex.split(add_user) == ["rabbitmqctl", "add_user", "certpush-zone-dc2"]
    assert shlex.split(grant) == [
        "rabbitmqctl", "set_permissions", "-p", "/certpush", "certpush-zone-dc2",
        p.configure, p.write, p.read,
    ]  # fmt: skip


@pytest.mark.parametrize("zone", ["", "a.b", "a b", "x" * 33, "-a", ".*"])
def test_a_zone_name_that_is_no_queue_name_is_refused(zone):
    with pytest.raises(ZoneError):
        zone_permissions(zone)
