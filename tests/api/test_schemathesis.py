"""schemathesis fuzzes every operation of /api/v1/openapi.json against a real server with
the demo database and an admin's write-scoped token: examples, coverage, fuzzing and the
stateful phase (the document's links from create to read operations).

Every check runs but ``positive_data_acceptance``: it expects any schema-valid input to be
accepted, while certpush refuses well-formed requests that break a rule (a certificate
that is not bound, a time zone that does not exist) with a 422 problem saying why.

The run's JUnit report and its output are kept in test-artifacts/schemathesis/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import start_api_server, stop_api_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis"
EXAMPLES_PER_OPERATION = 40


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path):
    server, process = start_api_server(tmp_path / "instance")
    try:
        spec = server.call("GET", "/api/v1/openapi.json").json()
        assert spec["openapi"] == "3.1.0"
        operations = sum(1 for item in spec["paths"].values() for m in item if m != "parameters")
        links = sum(len(r.get("links", {})) for item in spec["paths"].values()
                    for op in item.values() if isinstance(op, dict)
                    for r in op.get("responses", {}).values())  # fmt: skip
        assert links >= 10, "the stateful phase needs the create -> read links"
        st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
        run = subprocess.run(
            [st, "run", f"{server.url}/api/v1/openapi.json",
             "-H", f"Authorization: Bearer {server.tokens['admin']}",
             "--checks", "all", "--exclude-checks", "positive_data_acceptance",
             "--phases", "examples,coverage,fuzzing,stateful",
             "-n", str(EXAMPLES_PER_OPERATION), "--seed", "14", "--workers", "2",
             "--request-timeout", "60", "--report", "junit",
             "--report-dir", str(tmp_path / "report"), "--no-color"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    finally:
        stop_api_server(process)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "output.txt").write_text(run.stdout + run.stderr)
    for report in (tmp_path / "report").glob("*.xml"):
        shutil.copy(report, ARTIFACTS / "junit.xml")
    summary = run.stdout[run.stdout.rfind("SUMMARY") :]
    assert run.returncode == 0, run.stdout[-6000:]
    assert f"Tested: {operations}" in summary, summary
    assert re.search(r"\d+ generated, \d+ passed", summary), summary
    server_log = (server.instance / "server.log").read_text()
    assert "Traceback" not in server_log, server_log[-4000:]
