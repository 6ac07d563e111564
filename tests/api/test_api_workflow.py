"""The vendor workflow through the REST API alone, on a real server: an operator's token
requests, a reviewer's approves, an implementer's implements now, the scheduler pushes to
a real demo device and verifies it, and the evidence pack downloads and checks out."""

from __future__ import annotations

import io
import json
import time
import zipfile

from data.evidence import verify_pack

FINAL = {"Completed", "Failed", "Failed Verification", "Rolled Back", "Rollback Failed",
         "Rejected", "Cancelled"}  # fmt: skip


def _certificate(api, cn: str) -> dict:
    found = api("GET", f"/api/v1/certificates?cn={cn}&limit=5")
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert items, f"no demo certificate matching {cn}"
    return items[0]


def _wait_for(api, path: str, done, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api("GET", path).json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not get there in {timeout} s: {body}")
        time.sleep(0.5)


def test_a_whole_push_through_the_api(api_server):
    operator = api_server.as_role("operator")
    reviewer = api_server.as_role("reviewer")
    implementer = api_server.as_role("implementer")
    cert = _certificate(operator, "payments-api")
    detail = operator("GET", cert["links"]["self"]).json()
    assert [c["name"] for c in detail["connectors"]] == ["demo-payments-nginx"]

    created = operator("POST", "/api/v1/push-requests",
                       json={"certificate": cert["fingerprint_sha256"],
                             "comment": "renewal through the API"})  # fmt: skip
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["requester"] == api_server.users["operator"]
    assert created.headers["Location"] == f"/api/v1/push-requests/{request['id']}"
    wo = request["work_orders"][0]
    assert (wo["connector"], wo["status"]) == ("demo-payments-nginx", "Push-Approval Pending")
    path = wo["links"]["self"]
    # The scheduler runs the preflight on the pinned plan; approvals are given for it.
    _wait_for(reviewer, path, lambda b: (b["plan"] or {}).get("preflight", {}).get("status")
              not in (None, "pending"))  # fmt: skip
    shown = reviewer("GET", path).json()
    assert "approve" in shown["actions"]

    review = {"comment": "looks right", "plan_digest": shown["plan"]["digest"]}
    approved = reviewer("POST", f"{path}/approve", json=review)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "Push-Review In Progress"
    implemented = implementer("POST", f"{path}/implement",
                              json={"manual": True, "comment": "now"})  # fmt: skip
    assert implemented.status_code == 200, implemented.text
    assert implemented.json()["status"] == "Push In Progress"

    final = _wait_for(operator, path, lambda b: b["status"] in FINAL)
    assert final["status"] == "Completed", final
    assert [a["by"] for a in final["approvals"]] == [api_server.users["reviewer"],
                                                     api_server.users["implementer"]]  # fmt: skip
    assert all(a["stands"] for a in final["approvals"])
    again = operator("GET", f"/api/v1/push-requests/{request['id']}").json()
    assert again["work_orders"][0]["status"] == "Completed"

    pack = implementer("GET", f"{path}/evidence")
    assert pack.status_code == 200
    assert pack.headers["Content-Type"] == "application/zip"
    evidence = json.loads(zipfile.ZipFile(io.BytesIO(pack.content)).read("evidence.json"))
    assert evidence["work_order"]["id"] == wo["id"]
    assert verify_pack(pack.content).ok
    # The operator may request, not take evidence away (as in the UI and the CLI).
    refused = operator("GET", f"{path}/evidence")
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:certpush:problem:forbidden"
