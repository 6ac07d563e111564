"""Server-side paging, sorting and filtering agree with the colour rule, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from data.db import session_scope
from data.domain.status import Status
from data.importer import import_paths
from data.models import Certificate
from data.queries import certificate_page, iter_certificates, status_counts
from tests import certs as c

# days until expiry for each generated certificate, covering every expiry band and edge
DAYS = [400, 91, 90, 89, 31, 30, 29, 11, 10, 9, 1, 0, -1, -30, 500]


@pytest.fixture
def inventory(settings, vault, now, tmp_path):
    for i, days in enumerate(DAYS):
        cert, _ = c.make_cert(
            f"q{i:02}-days{days}.Example.org",
            not_before=now - timedelta(days=400),
            not_after=now + timedelta(days=days, hours=1),
            sans=[f"alt-{i}.example.org"],
        )
        (tmp_path / f"{i:02}.pem").write_bytes(c.pem(cert))
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, [tmp_path], now=now, actor="test")
        for cn_part, values in (
            ("q00-", {"revoked_at": now}),
            ("q01-", {"push_failed": True}),
            ("q02-", {"drift": True}),
        ):
            db.execute(
                update(Certificate)
                .where(Certificate.common_name.startswith(cn_part))
                .values(**values)
            )
    return settings


def page(settings, now, **kwargs):
    with session_scope(settings.database_url) as db:
        return certificate_page(
            db, now=now, start=kwargs.pop("start", 0), end=kwargs.pop("end", 100), **kwargs
        )


@pytest.mark.parametrize("status", list(Status))
def test_status_filter_matches_the_rule_row_by_row(inventory, now, status):
    with session_scope(inventory.database_url) as db:
        expected = {r.fingerprint_sha256 for r in iter_certificates(db, now) if r.status is status}
        counted = status_counts(db, now)[status]
    result = page(
        inventory, now, filter_model={"status": {"type": "equals", "filter": status.value}}
    )
    assert {r.fingerprint_sha256 for r in result.rows} == expected
    assert result.total == counted == len(expected)


def test_every_colour_is_present_in_the_fixture(inventory, now):
    with session_scope(inventory.database_url) as db:
        assert all(n > 0 for n in status_counts(db, now).values())


def test_sort_and_page(inventory, now):
    asc = page(inventory, now, sort_model=[{"colId": "not_after", "sort": "asc"}])
    assert [r.not_after for r in asc.rows] == sorted(r.not_after for r in asc.rows)
    desc = page(inventory, now, start=3, end=6, sort_model=[{"colId": "days_left", "sort": "desc"}])
    assert [r.days_left for r in desc.rows] == [90, 89, 31]
    assert desc.total == len(DAYS)


@pytest.mark.parametrize(
    ("column", "kind", "value", "expected"),
    [
        (
            "common_name",
            "contains",
            "DAYS1",  # case-insensitive, like the grid's filter box
            {"q07-days11.Example.org", "q08-days10.Example.org", "q10-days1.Example.org"},
        ),
        (
            "common_name",
            "contains",
            "s9",  # too short for the trigram index: the LIKE fallback answers
            {f"q{i:02}-days{DAYS[i]}.Example.org" for i in (1, 2, 9)},
        ),
        (
            "common_name",
            "startsWith",
            "q1",
            {f"q{i}-days{d}.Example.org" for i, d in zip(range(10, 15), DAYS[10:], strict=True)},
        ),
        ("sans", "contains", "alt-12.", {"q12-days-1.Example.org"}),
        ("common_name", "contains", "100%", set()),
    ],
)
def test_text_filters(inventory, now, column, kind, value, expected):
    result = page(inventory, now, filter_model={column: {"type": kind, "filter": value}})
    assert {r.common_name for r in result.rows} == expected


def test_days_left_filters(inventory, now):
    def names(spec):
        return sorted(
            r.days_left for r in page(inventory, now, filter_model={"days_left": spec}).rows
        )

    assert names({"type": "lessThanOrEqual", "filter": 10}) == [-30, -1, 0, 1, 9, 10]
    assert names({"type": "inRange", "filter": 29, "filterTo": 31}) == [29, 30, 31]
    assert names({"type": "equals", "filter": 90}) == [90]


def test_two_indexed_substring_filters_in_one_query(inventory, now):
    both = page(
        inventory,
        now,
        filter_model={
            "common_name": {"type": "contains", "filter": "days1"},
            "sans": {"type": "contains", "filter": "alt-10."},
        },
    )
    assert {r.common_name for r in both.rows} == {"q10-days1.Example.org"}
    either = page(
        inventory,
        now,
        filter_model={
            "common_name": {
                "filterType": "text",
                "operator": "OR",
                "conditions": [
                    {"type": "contains", "filter": "q03-"},
                    {"type": "contains", "filter": "q12-"},
                ],
            }
        },
    )
    assert {r.common_name for r in either.rows} == {
        "q03-days89.Example.org",
        "q12-days-1.Example.org",
    }
