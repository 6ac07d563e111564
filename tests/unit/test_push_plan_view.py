"""The push plan panel of the Approve and Implement dialogs, rendered from plan dicts."""

from __future__ import annotations

import copy
import shlex
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from dashboard.components.push_plan import BLOCKED, NO_PLAN, RUNNING, plan_panel
from tests.dash_calls import component_text

DIGEST = "3f2a9c" + "0" * 58
NEW = "ab" * 32
OLD = "cd" * 32
PLAN: dict[str, Any] = {
    "digest": DIGEST,
    "created_at": "2026-12-01T10:00:00+00:00",
    "certificate": {
        "fingerprint": NEW,
        "common_name": "www.example.com",
        "not_after": "2027-03-01T00:00:00+00:00",
        "chain": ["ef" * 32],
    },
    "connector": {
        "name": "web-1",
        "type": "ssh",
        "target": {"host": "10.0.0.5", "port": 22, "username": "deploy", "host_key": "SHA256:abc"},
    },
    "profile": {
        "name": "nginx", "layout": "fullchain", "source": "built-in", "needs_review": False,
    },
    "files": [
        {"path": "/etc/nginx/tls/site.crt", "mode": "0644", "parts": ["certificate", "chain"],
         "contents": "certificate + 1 intermediate"},
        {"path": "/etc/nginx/tls/site.key", "mode": "0600", "parts": ["key"],
         "contents": "private key (EC P-256)"},
    ],
    "commands": {"test": ["nginx", "-t", "-c", "/etc/nginx/my site.conf"],
                 "reload": ["nginx", "-s", "reload"]},
    "endpoints": [{"host": "10.0.0.5", "port": 443, "sni": "www.example.com"},
                  {"host": "10.0.0.6", "port": 8443, "sni": None}],
    "preflight": {
        "at": "2026-12-01T10:05:00+00:00",
        "status": "warning",
        "checks": [
            {"name": "ssh", "status": "ok", "message": "host key matches"},
            {"name": "disk", "status": "warning", "message": "92% full"},
        ],
        "endpoints": [
            {"host": "10.0.0.5", "port": 443, "sni": "www.example.com",
             "now": {"outcome": "mismatch", "reason": "", "fingerprint": OLD, "subject": "CN=old",
                     "not_after": "2026-12-20T00:00:00+00:00"},
             "after": NEW},
            {"host": "10.0.0.6", "port": 8443, "sni": None,
             "now": {"outcome": "refused", "reason": "connection refused", "fingerprint": None,
                     "subject": None, "not_after": None},
             "after": NEW},
        ],
    },
    "emergency": False,
}  # fmt: skip


def _plan(**changes: Any) -> dict[str, Any]:
    plan = copy.deepcopy(PLAN)
    plan.update(changes)
    return plan


def _walk(component: Any):
    """Every component and every string child of the tree, depth first."""
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for child in children:
            yield from _walk(child)
    elif children is not None:
        yield from _walk(children)


def _classes(component: Any) -> list[str]:
    return (getattr(component, "className", None) or "").split()


def _find(component: Any, class_name: str) -> list[Any]:
    return [c for c in _walk(component) if class_name in _classes(c)]


def _one(component: Any, class_name: str) -> Any:
    [found] = _find(component, class_name)
    return found


def _texts(component: Any) -> list[str]:
    return [c for c in _walk(component) if isinstance(c, str)]


def _said(component: Any) -> str:
    """What a reader sees: the string children joined (no JSON escaping in the way)."""
    return "".join(_texts(component))


def _rows(table_section: Any) -> list[str]:
    [body] = [c for c in _walk(table_section) if isinstance(c, html.Tbody)]
    return [" | ".join(_said(td) for td in tr.children) for tr in body.children]


def test_the_panel_has_its_id_and_a_header_with_the_short_digest_and_the_profile():
    panel = plan_panel(_plan(), UTC)
    assert panel.id == ids.PUSH_PLAN == "push-plan"
    header = _one(panel, "plan-header")
    digest = _one(header, "plan-digest")
    assert digest.children == "3f2a9c000000…" and digest.title == DIGEST
    assert "Push plan" in _said(header)
    assert "profile nginx (fullchain, built-in)" in _said(header)
    assert "pinned 2026-12-01 10:00 UTC" in _said(header)
    assert not _find(panel, "plan-review-badge")


def test_a_profile_needing_review_says_so_in_a_badge():
    plan = _plan()
    plan["profile"].update(source="migrated", needs_review=True)
    badge = _one(plan_panel(plan, UTC), "plan-review-badge")
    assert isinstance(badge, dbc.Badge) and badge.color == "warning"
    assert badge.children == "profile needs an admin's review"


def test_the_target_is_user_host_port_and_host_key_or_this_host():
    target = _said(_one(plan_panel(_plan(), UTC), "plan-target"))
    assert "web-1 (ssh): deploy@10.0.0.5:22, host key SHA256:abc" in target
    assert "Certificate: www.example.com" in target and "1 chain certificate" in target
    local = _plan()
    local["connector"] = {"name": "box", "type": "local",
                          "target": {"host": "certpush-host", "local": True}}  # fmt: skip
    assert "box (local): this host (local)" in _said(_one(plan_panel(local, UTC), "plan-target"))


def test_files_are_listed_with_path_mode_and_contents():
    rows = _rows(_one(plan_panel(_plan(), UTC), "plan-files"))
    assert rows == [
        "/etc/nginx/tls/site.crt | 0644 | certificate + 1 intermediate",
        "/etc/nginx/tls/site.key | 0600 | private key (EC P-256)",
    ]


def test_commands_are_the_exact_argument_lists_shell_quoted_for_reading():
    section = _one(plan_panel(_plan(), UTC), "plan-commands")
    argv = [c.children for c in _find(section, "plan-argv")]
    assert argv == [
        shlex.join(PLAN["commands"]["test"]),
        "nginx -s reload",
    ]
    assert argv[0] == "nginx -t -c '/etc/nginx/my site.conf'"
    assert "runs without a shell" in _said(section)


def test_a_missing_command_is_named_as_missing():
    section = _one(plan_panel(_plan(commands={"test": None, "reload": []}), UTC), "plan-commands")
    assert _said(_one(section, "plan-command-test")) == "no test command"
    assert _said(_one(section, "plan-command-reload")) == "no reload command"
    assert not _find(section, "plan-argv")


def test_endpoints_show_what_each_serves_now_and_after_the_push():
    rows = _rows(_one(plan_panel(_plan(), UTC), "plan-endpoints"))
    assert rows == [
        "10.0.0.5:443 (SNI www.example.com) | cdcdcdcdcdcd… CN=old, until 2026-12-20"
        " | abababababab… CN=www.example.com",
        "10.0.0.6:8443 | refused: connection refused | abababababab… CN=www.example.com",
    ]


def test_endpoints_before_any_preflight_are_not_checked_yet():
    rows = _rows(_one(plan_panel(_plan(preflight=None), UTC), "plan-endpoints"))
    assert [r.split(" | ")[1] for r in rows] == ["not checked yet", "not checked yet"]
    assert all(r.endswith("abababababab… CN=www.example.com") for r in rows)


def test_only_the_first_25_endpoints_are_listed_and_the_rest_counted():
    endpoints = [
        {"host": f"10.1.{i // 250}.{i % 250}", "port": 443, "sni": None} for i in range(200)
    ]
    section = _one(plan_panel(_plan(endpoints=endpoints), UTC), "plan-endpoints")
    rows = _rows(section)
    assert len(rows) == 25 and rows[0].startswith("10.1.0.0:443 |")
    assert rows[-1].startswith("10.1.0.24:443 |")
    assert _said(_one(section, "plan-endpoints-more")) == "… and 175 more endpoints"
    assert "Endpoints (200)" in _said(section)
    two = _plan()
    assert not _find(plan_panel(two, UTC), "plan-endpoints-more")


def test_each_check_has_a_badge_coloured_by_its_status():
    plan = _plan()
    plan["preflight"]["status"] = "blocker"
    plan["preflight"]["checks"].append(
        {"name": "host key", "status": "blocker", "message": "host key changed"}
    )
    section = _one(plan_panel(plan, UTC), "plan-preflight")
    checks = _find(section, "preflight-check")
    seen = {}
    for check in checks:
        [badge] = [c for c in _walk(check) if isinstance(c, dbc.Badge)]
        seen[check.to_plotly_json()["props"]["data-check"]] = (
            [c for c in _classes(check) if c.startswith("preflight-") and c != "preflight-check"],
            badge.color,
            _said(check),
        )
    assert seen == {
        "ssh": (["preflight-ok"], "success", "oksshhost key matches"),
        "disk": (["preflight-warning"], "warning", "warningdisk92% full"),
        "host key": (["preflight-blocker"], "danger", "blockerhost keyhost key changed"),
    }
    overall = _one(section, "plan-preflight-status")
    [overall_badge] = [c for c in _walk(overall) if isinstance(c, dbc.Badge)]
    assert overall_badge.color == "danger" and overall_badge.children == "blocker"


def test_a_blocker_is_said_in_a_red_line_and_only_then():
    plan = _plan()
    plan["preflight"]["checks"][1]["status"] = "blocker"
    line = _one(plan_panel(plan, UTC), "plan-blocked")
    assert line.children == BLOCKED
    assert "text-danger" in _classes(line)
    assert not _find(plan_panel(_plan(), UTC), "plan-blocked")


def test_a_pending_or_absent_preflight_says_it_is_running_in_the_scheduler():
    pending = _plan()
    pending["preflight"] = {"at": None, "status": "pending", "checks": [], "endpoints": []}
    for plan in (pending, _plan(preflight=None)):
        section = _one(plan_panel(plan, UTC), "plan-preflight")
        assert _said(_one(section, "plan-preflight-running")) == RUNNING
    assert not _find(plan_panel(_plan(), UTC), "plan-preflight-running")


def test_preflight_time_is_shown_in_the_viewers_zone_and_in_utc():
    berlin = _said(_one(plan_panel(_plan(), ZoneInfo("Europe/Berlin")), "plan-preflight"))
    assert "checked 2026-12-01 11:05 CET (10:05 UTC)" in berlin
    assert "checked 2026-12-01 10:05 UTC" in _said(plan_panel(_plan(), UTC))


def test_no_plan_says_the_work_order_predates_plans():
    for plan in (None, {}):
        panel = plan_panel(plan, UTC)
        assert panel.id == ids.PUSH_PLAN
        assert _said(panel) == NO_PLAN
        assert "text-muted" in _classes(panel.children)


def test_a_plan_from_an_older_version_missing_keys_still_renders():
    sparse = [
        {"digest": DIGEST},
        {"digest": None, "files": None, "commands": None, "endpoints": None, "preflight": {}},
        {"connector": {"target": {}}, "files": [{}], "endpoints": [{"host": "a.example"}],
         "commands": {"test": "nginx -t"}, "certificate": {},
         "preflight": {"status": "ok", "checks": [{}], "endpoints": [{}]}},
        {"profile": "nginx", "connector": "web-1", "files": ["x"], "endpoints": "all",
         "preflight": {"checks": None, "endpoints": [{"host": "a", "now": None}]}},
    ]  # fmt: skip
    for plan in sparse:
        panel = plan_panel(plan, UTC)
        assert panel.id == ids.PUSH_PLAN
        for section in ("plan-preflight", "plan-target", "plan-files", "plan-commands"):
            assert _one(panel, section)
        assert "Push plan" in _said(panel)
    text = _said(plan_panel(sparse[2], UTC))
    assert "nginx -t" in text and "a.example | not checked yet | —" in " ".join(
        _rows(_one(plan_panel(sparse[2], UTC), "plan-endpoints"))
    )


def test_hostile_text_from_a_certificate_stays_literal_text():
    hostile = "<script>alert(1)</script> **bold** [x](javascript:alert(1))"
    plan = _plan()
    plan["certificate"]["common_name"] = hostile
    plan["files"][0]["path"] = "<img src=x onerror=alert(1)>"
    plan["preflight"]["checks"][0]["message"] = "<b>fine</b>"
    panel = plan_panel(plan, UTC)
    texts = _texts(panel)
    assert hostile in texts
    assert "<img src=x onerror=alert(1)>" in texts and "<b>fine</b>" in texts
    assert f" CN={hostile}" in texts
    components = [c for c in _walk(panel) if not isinstance(c, str)]
    assert all(isinstance(c, html.Div | html.Span | html.Strong | html.Code | html.Ul
                          | html.Li | html.Thead | html.Tbody | html.Tr | html.Th | html.Td
                          | dbc.Badge | dbc.Table) for c in components)  # fmt: skip
    assert not any(isinstance(c, dcc.Markdown) for c in components)
    assert "dangerously" not in component_text(panel)
