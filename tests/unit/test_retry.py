"""Which failures are retried, how long each wait is, and verification timings per profile."""

from __future__ import annotations

import pytest

from data.domain.profiles import ProfilesError, parse_profiles
from data.domain.retry import backoff, is_transient
from data.domain.verification import ProbeOutcome, newly_broken


@pytest.mark.parametrize("failure", ["timeout", "unreachable"])
def test_transient_failures_are_retried(failure):
    assert is_transient(failure)


@pytest.mark.parametrize(
    "failure",
    ["auth", "host_key", "permission", "config_test_failed", "reload_failed", "refused",
     "io_error", "config", "unknown", None],
)  # fmt: skip
def test_failures_that_would_fail_again_are_not(failure):
    assert not is_transient(failure)


def test_backoff_doubles_with_jitter_between_half_and_the_whole_step():
    assert [backoff(n, 5, rand=lambda: 0.0) for n in (1, 2, 3)] == [2.5, 5.0, 10.0]
    assert [backoff(n, 5, rand=lambda: 1.0) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert backoff(30, 5, rand=lambda: 1.0) == 300.0  # capped


def test_a_handshake_that_worked_before_and_fails_now_is_newly_broken():
    assert newly_broken(ProbeOutcome.MISMATCH, ProbeOutcome.TLS_ERROR)
    assert newly_broken(ProbeOutcome.MATCH, ProbeOutcome.REFUSED)
    assert newly_broken(ProbeOutcome.MISMATCH, ProbeOutcome.NOT_TLS)
    assert not newly_broken(ProbeOutcome.MISMATCH, ProbeOutcome.MISMATCH)  # not broken
    assert not newly_broken(ProbeOutcome.REFUSED, ProbeOutcome.REFUSED)  # was broken already
    assert not newly_broken(None, ProbeOutcome.TLS_ERROR)  # never seen before
    assert not newly_broken(ProbeOutcome.MATCH, ProbeOutcome.TIMEOUT)  # maybe just slow


def test_a_profile_sets_its_verification_timings():
    text = '[profiles.slow]\nlayout = "separate"\nfolders = ["/etc/ssl"]\n' \
           "verify_settle = 10\nverify_grace = 300\n"  # fmt: skip
    profile = parse_profiles(text)["slow"]
    assert (profile.verify_settle, profile.verify_grace) == (10.0, 300.0)
    assert "verify_grace" not in profile.definition()  # not pinned: approvals stand


def test_a_bad_timing_is_refused_with_its_line():
    text = '[profiles.bad]\nlayout = "separate"\nfolders = ["/etc/ssl"]\nverify_grace = -1\n'
    with pytest.raises(ProfilesError) as refused:
        parse_profiles(text)
    assert "line 4" in str(refused.value) and "verify_grace must be" in str(refused.value)
