"""API token rules, pure (data/domain/api_tokens.py): shape, lifetime, scope, label,
refusals and the write rate's fixed windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data.domain.api_tokens import (
    MAX_LIFETIME,
    RateLimit,
    Scope,
    TokenError,
    TokenState,
    check_name,
    count_call,
    looks_like_token,
    new_token,
    parse_lifetime,
    parse_scope,
    public_id,
    refusal,
    token_digest,
)
from data.domain.errors import CertpushError

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("4w", timedelta(weeks=4)),
        (" 30 D ", timedelta(days=30)),
        ("1h", timedelta(hours=1)),
        ("730d", MAX_LIFETIME),
        ("104w", timedelta(weeks=104)),
        ("never", None),
        ("NEVER", None),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_lifetimes_are_a_number_and_a_unit_or_never(text, lifetime):
    assert parse_lifetime(text) == lifetime


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("90", "write a number and d, h or w"),
        ("d", "write a number and d, h or w"),
        ("90m", "write a number and d, h or w"),
        ("1.5d", "write a number and d, h or w"),
        ("-1d", "write a number and d, h or w"),
        ("90 days", "write a number and d, h or w"),
        ("12345d", "write a number and d, h or w"),
        ("0d", "longer than zero"),
        ("0h", "longer than zero"),
        ("731d", "at most 730 days"),
        ("105w", "at most 730 days"),
    ],
)
def test_a_bad_lifetime_says_what_to_write(text, says):
    with pytest.raises(TokenError, match=says):
        parse_lifetime(text)


def test_token_errors_are_certpush_errors_shown_unchanged():
    assert issubclass(TokenError, CertpushError)


@pytest.mark.parametrize(
    ("text", "scope"),
    [("read", Scope.READ), ("write", Scope.WRITE), (" WRITE ", Scope.WRITE), ("Read", Scope.READ)],
)
def test_scopes(text, scope):
    assert parse_scope(text) is scope


@pytest.mark.parametrize("text", ["admin", "", "rw", "read,write", "*"])
def test_an_unknown_scope_is_refused(text):
    with pytest.raises(TokenError, match="use read or write"):
        parse_scope(text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("ci pipeline", "ci pipeline"),
        ("  jenkins@build-01  ", "jenkins@build-01"),
        ("ticketing/servicenow: prod.v2_a", "ticketing/servicenow: prod.v2_a"),
        ("x" * 64, "x" * 64),
    ],
)
def test_a_token_name_says_what_it_is_for(text, name):
    assert check_name(text) == name


@pytest.mark.parametrize("text", ["", "   ", "x" * 65, "semi;colon", "<script>", "tab\there",
                                  "new\nline", "quote'"])  # fmt: skip
def test_odd_token_names_are_refused(text):
    with pytest.raises(TokenError, match="1-64 letters"):
        check_name(text)


def test_a_new_token_has_the_documented_shape_and_a_public_id_without_its_secret():
    token = new_token()
    assert looks_like_token(token)
    prefix, public, secret = token.split("_", 2)
    assert prefix == "cpt" and len(public) == 8 and len(secret) == 43
    assert public_id(token) == f"cpt_{public}"
    assert secret not in public_id(token)
    assert new_token() != token
    assert token_digest(token) == token_digest(token) != token_digest(new_token())
    assert len(token_digest(token)) == 64 and secret not in token_digest(token)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cpt_",
        "cpt_0123abcd",
        "cpt_0123abcd_" + "a" * 42,  # one short
        "cpt_0123abcd_" + "a" * 44,  # one long
        "cpt_0123ABCD_" + "a" * 43,  # the public id is lowercase hex
        "cpt_0123abcg_" + "a" * 43,
        "cpx_0123abcd_" + "a" * 43,
        "Bearer cpt_0123abcd_" + "a" * 43,
        "cpt_0123abcd_" + "a" * 42 + "=",
        "cpt_0123abcd_" + "a" * 43 + "\n",
        " cpt_0123abcd_" + "a" * 43,
    ],
)
def test_only_well_formed_tokens_are_looked_up(text):
    assert not looks_like_token(text)


def test_a_token_may_hold_every_urlsafe_character():
    assert looks_like_token("cpt_0123abcd_" + "aZ09-_" * 7 + "x")


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (TokenState(None, None, True), None),
        (TokenState(None, T + timedelta(seconds=1), True), None),
        (TokenState(None, T, True), "this API token has expired"),  # expires at that second
        (TokenState(None, T - timedelta(days=1), True), "this API token has expired"),
        (TokenState(T - timedelta(days=1), None, True), "this API token was revoked"),
        (TokenState(T, T - timedelta(days=1), False), "this API token was revoked"),
        (TokenState(None, T - timedelta(days=1), False), "this API token has expired"),
        (TokenState(None, None, False), "the user of this API token is disabled"),
        (TokenState(None, T + timedelta(days=1), False), "the user of this API token is disabled"),
    ],
)
def test_refusals_name_the_first_reason_revoked_then_expired_then_disabled(state, why):
    assert refusal(state, T) == why


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("60/minute", RateLimit(60, timedelta(minutes=1))),
        ("5/second", RateLimit(5, timedelta(seconds=1))),
        (" 1000 / HOUR ", RateLimit(1000, timedelta(hours=1))),
    ],
)
def test_rates(text, limit):
    assert RateLimit.parse(text) == limit


@pytest.mark.parametrize("text", ["", "60", "0/minute", "60/day", "60 per minute", "-1/second"])
def test_a_bad_rate_names_the_setting(text):
    with pytest.raises(ValueError, match="CERTPUSH_API_WRITE_RATE"):
        RateLimit.parse(text)


LIMIT = RateLimit(3, timedelta(minutes=1))


def test_the_first_call_opens_a_window():
    decision = count_call(LIMIT, None, 0, T)
    assert (decision.allowed, decision.window_start, decision.count) == (True, T, 1)


def test_calls_are_counted_until_the_window_is_full_then_refused_with_retry_after():
    start = T - timedelta(seconds=20)
    second = count_call(LIMIT, start, 1, T)
    assert (second.allowed, second.window_start, second.count) == (True, start, 2)
    third = count_call(LIMIT, start, 2, T)
    assert (third.allowed, third.count) == (True, 3)
    refused = count_call(LIMIT, start, 3, T)
    assert (refused.allowed, refused.window_start, refused.count) == (False, start, 3)
    assert refused.retry_after == 40  # the window ends 40 s from now


@pytest.mark.parametrize(
    ("into_window", "retry_after"),
    [
        (timedelta(seconds=59, milliseconds=500), 1),  # rounded up, never 0
        (timedelta(seconds=59, milliseconds=999), 1),
        (timedelta(seconds=0), 60),
        (timedelta(seconds=10, milliseconds=500), 50),  # 49.5 s left, rounded up
    ],
)
def test_retry_after_is_whole_seconds_rounded_up(into_window, retry_after):
    decision = count_call(LIMIT, T - into_window, 3, T)
    assert not decision.allowed and decision.retry_after == retry_after


def test_a_new_window_starts_once_the_old_one_ended():
    decision = count_call(LIMIT, T - timedelta(minutes=1), 3, T)
    assert (decision.allowed, decision.window_start, decision.count) == (True, T, 1)


def test_a_window_from_the_future_a_clock_step_back_starts_afresh():
    decision = count_call(LIMIT, T + timedelta(minutes=5), 3, T)
    assert (decision.allowed, decision.window_start, decision.count) == (True, T, 1)
