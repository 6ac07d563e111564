"""Preflight rules (data/domain/preflight.py): each verdict and the words it says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data.domain.preflight import (
    Check,
    CheckStatus,
    EndpointNow,
    certificate_sans,
    check_chain,
    check_endpoints_now,
    check_key_matches,
    check_sni,
    check_validity,
    name_covered,
    overall,
)
from data.domain.verification import ProbeOutcome
from tests.chains import Pki, issue

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
D = timedelta(days=1)
S = timedelta(seconds=1)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.make(NOW, ["www.example.test"])


# ------------------------------------------------------------------------- key match


def test_key_of_the_certificate_matches(pki):
    check = check_key_matches(pki.leaf, pki.leaf_key)
    assert (check.name, check.status) == ("key_match", CheckStatus.OK)
    assert "belongs to CN=www.example.test" in check.message


def test_another_key_blocks(pki):
    check = check_key_matches(pki.leaf, pki.intermediate_key)
    assert check.status is CheckStatus.BLOCKER
    assert check.message.startswith(
        "the private key in certpush does not belong to this certificate: "
    )
    assert "CN=www.example.test" in check.message


# ----------------------------------------------------------------------------- chain


def test_complete_chain_names_the_trusted_root(pki):
    check = check_chain(pki.leaf, [pki.intermediate], [pki.root])
    assert (check.name, check.status) == ("chain", CheckStatus.OK)
    assert "trusted root CN=Preflight Test Root" in check.message


def test_chain_that_carries_its_root_is_complete(pki):
    check = check_chain(pki.leaf, [pki.intermediate, pki.root], [])
    assert check.status is CheckStatus.OK
    assert "root CN=Preflight Test Root, which it includes" in check.message


def test_chain_in_the_wrong_order_blocks(pki):
    check = check_chain(pki.leaf, [pki.root, pki.intermediate], [pki.root])
    assert check.status is CheckStatus.BLOCKER
    assert "out of order" in check.message
    assert "CN=Preflight Test Intermediate" in check.message
    assert "leaf-side first" in check.message


def test_unrelated_certificate_in_the_chain_blocks(pki):
    stranger, _ = issue("Stranger CA", now=NOW, ca=True)
    check = check_chain(pki.leaf, [stranger], [pki.root])
    assert check.status is CheckStatus.BLOCKER
    assert "does not belong" in check.message
    assert "CN=Stranger CA" in check.message


def test_intermediate_of_the_same_name_with_another_key_blocks(pki):
    impostor, _ = issue(
        "Preflight Test Intermediate", now=NOW, ca=True, issuer=(pki.root, pki.root_key)
    )
    check = check_chain(pki.leaf, [impostor], [pki.root])
    assert check.status is CheckStatus.BLOCKER
    assert "signature of CN=www.example.test does not verify" in check.message
    assert "import the intermediate that really issued it" in check.message


def test_missing_intermediate_warns_and_names_it(pki):
    check = check_chain(pki.leaf, [], [pki.root])
    assert check.status is CheckStatus.WARNING
    assert check.message == (
        "no certificate for issuer CN=Preflight Test Intermediate in the inventory or the "
        "system store: clients that lack it will fail; import the intermediate"
    )


def test_unknown_root_warns_and_names_it(pki):
    check = check_chain(pki.leaf, [pki.intermediate], [])
    assert check.status is CheckStatus.WARNING
    assert "no certificate for issuer CN=Preflight Test Root" in check.message


def test_root_of_the_same_name_with_another_key_is_not_trusted(pki):
    other_root, _ = issue("Preflight Test Root", now=NOW, ca=True)
    check = check_chain(pki.leaf, [pki.intermediate], [other_root])
    assert check.status is CheckStatus.WARNING
    assert "its key did not sign it" in check.message


def test_self_signed_leaf_warns():
    leaf, _ = issue("alone.example.test", now=NOW, sans=["alone.example.test"])
    check = check_chain(leaf, [], [])
    assert check.status is CheckStatus.WARNING
    assert check.message == (
        "CN=alone.example.test is self-signed: only clients that trust it explicitly will connect"
    )


# -------------------------------------------------------------------------- validity


def validity(not_after: datetime, not_before: datetime = NOW - 30 * D, minimum: int = 7):
    return check_validity(not_before, not_after, NOW, minimum)


@pytest.mark.parametrize(
    ("not_after", "status", "words"),
    [
        (NOW + 400 * D, CheckStatus.OK, "valid until 2028-01-06 (400 days)"),
        (NOW + 30 * D, CheckStatus.OK, "(30 days)"),
        (NOW + 30 * D - S, CheckStatus.WARNING, "in 29 days: plan its renewal"),
        (NOW + 7 * D, CheckStatus.WARNING, "expires on 2026-12-09, in 7 days"),
        (NOW + 7 * D - S, CheckStatus.BLOCKER, "in 6 days; certpush requires at least 7"),
        (
            NOW + 3 * D,
            CheckStatus.BLOCKER,
            "expires on 2026-12-05, in 3 days; certpush requires at least 7 "
            "(CERTPUSH_MIN_DAYS_LEFT)",
        ),
        (NOW + 1 * D, CheckStatus.BLOCKER, "in 1 day;"),
        (NOW, CheckStatus.BLOCKER, "expires on 2026-12-02, today;"),  # valid this second
        (NOW - S, CheckStatus.BLOCKER, "expired on 2026-12-02: renew the certificate"),
        (NOW - 40 * D, CheckStatus.BLOCKER, "expired on 2026-10-23"),
    ],
)
def test_validity_edges(not_after, status, words):
    check = validity(not_after)
    assert (check.name, check.status) == ("validity", status)
    assert words in check.message


def test_not_yet_valid_blocks():
    check = validity(NOW + 90 * D, not_before=NOW + S)
    assert check.status is CheckStatus.BLOCKER
    assert "not valid yet: it becomes valid on 2026-12-02 12:00 UTC" in check.message


def test_valid_from_this_very_second():
    assert validity(NOW + 90 * D, not_before=NOW).status is CheckStatus.OK


def test_minimum_zero_only_warns_on_the_last_day():
    check = validity(NOW + 1 * D, minimum=0)
    assert check.status is CheckStatus.WARNING
    assert "in 1 day:" in check.message


# ------------------------------------------------------------------------------- SNI


def ep(host: str, port: int = 443, sni: str | None = None) -> dict:
    return {"host": host, "port": port, "sni": sni}


@pytest.mark.parametrize(
    ("name_", "sans", "covered"),
    [
        ("www.example.com", ["www.example.com"], True),
        ("WWW.Example.COM.", ["www.example.com"], True),
        ("www.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),  # a wildcard needs its one label
        ("a.b.example.com", ["*.example.com"], False),  # and covers exactly one
        ("www.example.org", ["*.example.com"], False),
        ("xexample.com", ["*.example.com"], False),
    ],
)
def test_name_coverage(name_, sans, covered):
    assert name_covered(name_, sans) is covered


def test_sni_names_the_certificate_covers():
    check = check_sni(
        [ep("10.0.0.1", sni="www.example.com"), ep("h", sni="api.example.com")], ["*.example.com"]
    )
    assert (check.name, check.status) == ("sni", CheckStatus.OK)
    assert "all 2 endpoints" in check.message


def test_sni_name_outside_the_sans_blocks_and_is_listed():
    check = check_sni(
        [ep("10.0.0.1", 8443, "www.example.com"), ep("10.0.0.2", 443, "example.com")],
        ["*.example.com"],
    )
    assert check.status is CheckStatus.BLOCKER
    assert "does not cover the SNI names example.com (10.0.0.2:443)" in check.message
    assert "www.example.com (" not in check.message
    assert "SANs: *.example.com" in check.message


def test_dns_host_without_sni_not_covered_warns():
    check = check_sni([ep("mail.example.org", 993)], ["www.example.org"])
    assert check.status is CheckStatus.WARNING
    assert "mail.example.org:993 (host name not in the SANs, no SNI)" in check.message
    assert "set each endpoint's SNI" in check.message


def test_dns_host_without_sni_covered_is_fine():
    assert check_sni([ep("www.example.org")], ["www.example.org"]).status is CheckStatus.OK


@pytest.mark.parametrize(
    ("host", "sans", "status"),
    [
        ("10.0.0.1", ["www.example.org", "10.0.0.1"], CheckStatus.OK),
        ("10.0.0.1", ["www.example.org"], CheckStatus.WARNING),
        ("::1", ["::1"], CheckStatus.OK),
        ("[::1]", ["0:0:0:0:0:0:0:1"], CheckStatus.OK),
        ("::1", ["127.0.0.1"], CheckStatus.WARNING),
    ],
)
def test_ip_host_without_sni_needs_an_ip_san(host, sans, status):
    check = check_sni([ep(host, 8443)], sans)
    assert check.status is status
    if status is CheckStatus.WARNING:
        assert "no IP SAN" in check.message and ":8443" in check.message


def test_blocker_also_mentions_the_doubtful_endpoints():
    check = check_sni([ep("10.0.0.9", 443), ep("10.0.0.1", 443, "other.test")], ["www.test"])
    assert check.status is CheckStatus.BLOCKER
    assert "other.test (10.0.0.1:443)" in check.message
    assert "also unsure: 10.0.0.9:443" in check.message


def test_many_names_are_cut_short():
    endpoints = [ep("10.0.0.1", 443, f"h{i}.other.test") for i in range(12)]
    check = check_sni(endpoints, ["www.test"])
    assert "and 7 more" in check.message


def test_sans_of_both_kinds_are_read(pki):
    leaf, _ = issue("x", now=NOW, sans=["a.test", "*.b.test", "192.0.2.1", "2001:db8::1"])
    assert certificate_sans(leaf) == ["a.test", "*.b.test", "192.0.2.1", "2001:db8::1"]
    no_sans, _ = issue("bare", now=NOW)
    assert certificate_sans(no_sans) == []
    check = check_sni([ep("10.0.0.1", sni="bare")], certificate_sans(no_sans))
    assert check.status is CheckStatus.BLOCKER
    assert "SANs: no names" in check.message


# --------------------------------------------------------------------- endpoints now


def now_(where: str, outcome: ProbeOutcome, reason: str = "r") -> EndpointNow:
    return EndpointNow(where, outcome, reason)


def test_endpoints_serving_another_certificate_are_the_normal_case():
    check = check_endpoints_now([now_("10.0.0.1:443", ProbeOutcome.MISMATCH)])
    assert (check.name, check.status) == ("endpoints_now", CheckStatus.OK)
    assert check.message == "10.0.0.1:443 serves another certificate now, which the push replaces"


def test_endpoint_already_serving_it_is_fine():
    check = check_endpoints_now(
        [now_("10.0.0.1:443", ProbeOutcome.MATCH), now_("10.0.0.2:443", ProbeOutcome.MISMATCH)]
    )
    assert check.status is CheckStatus.OK
    assert "10.0.0.1:443 already serves it" in check.message


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        (ProbeOutcome.REFUSED, "nothing answers at 10.0.0.1:443 www.test now: r"),
        (ProbeOutcome.TIMEOUT, "nothing answers at 10.0.0.1:443 www.test now"),
        (ProbeOutcome.DNS_ERROR, "nothing answers at"),
        (ProbeOutcome.TLS_ERROR, "10.0.0.1:443 www.test answers but completes no TLS handshake"),
        (ProbeOutcome.NOT_TLS, "completes no TLS handshake"),
    ],
)
def test_endpoint_that_does_not_answer_warns(outcome, words):
    check = check_endpoints_now(
        [now_("10.0.0.1:443 www.test", outcome), now_("10.0.0.2:443", ProbeOutcome.MISMATCH)]
    )
    assert check.status is CheckStatus.WARNING
    assert words in check.message
    assert "verification after the push will fail there" in check.message


def test_many_silent_endpoints_are_counted():
    check = check_endpoints_now([now_(f"10.0.0.{i}:443", ProbeOutcome.REFUSED) for i in range(8)])
    assert "and 3 more endpoints do not answer" in check.message


def test_no_endpoints_warns():
    check = check_endpoints_now([])
    assert check.status is CheckStatus.WARNING
    assert "cannot verify this push" in check.message


# ---------------------------------------------------------------------------- overall


def test_overall_is_the_worst():
    ok = Check("ssh", CheckStatus.OK, "")
    warn = Check("chain", CheckStatus.WARNING, "")
    block = Check("validity", CheckStatus.BLOCKER, "")
    assert overall([]) is CheckStatus.OK
    assert overall([ok, ok]) is CheckStatus.OK
    assert overall([ok, warn]) is CheckStatus.WARNING
    assert overall([block, warn, ok]) is CheckStatus.BLOCKER


def test_check_round_trips_through_json():
    check = Check("sni", CheckStatus.WARNING, "m")
    assert check.to_json() == {"name": "sni", "status": "warning", "message": "m"}
    assert Check.from_json(check.to_json()) == check
