"""The command line as a package: one module per noun, and only what a command needs imported.

Start-up time itself is measured by bench/cli_start.py; these tests pin what makes it
fast (no heavy import at module level) and what the split must not lose (every command).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.cli import app

ROOT = Path(__file__).resolve().parents[2]
NOUNS = (
    "db", "certs", "users", "tokens", "keys", "connectors", "push", "workorders", "rollouts",
    "policy", "profiles", "audit", "agents", "notify",
)  # fmt: skip
TOP_LEVEL = (
    "import", "demo", "serve", "verify", "report", "report-weekly", "scheduler", "evidence",
    "agent", "central",
)  # fmt: skip
# Never needed to print help or list certificates; each costs tenths of a second to import.
HEAVY = (
    "pandas",
    "plotly",
    "paramiko",
    "dash",
    "kaleido",
    "reportlab",
    "xlsxwriter",
    "apscheduler",
    "celery",
    "alembic",
    "reports",
    "jobs.scheduler",
    "jobs.push",
    "data.importer",
)

# Runs argv through the CLI in a fresh interpreter, then prints which of HEAVY were imported.
PROBE = """
import contextlib, io, json, sys
from jobs.cli import app
with contextlib.redirect_stdout(io.StringIO()):
    try:
        app(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in json.loads({heavy!r}) if m in sys.modules)))
"""


def imported_by(args: list[str], env: dict[str, str]) -> list[str]:
    """The HEAVY modules (plus SQLAlchemy) that running ``certpush ARGS`` imported."""
    heavy = json.dumps([*HEAVY, "sqlalchemy"])
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=heavy), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    env = {**os.environ, "CERTPUSH_INSTANCE": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    return env


def test_help_imports_neither_sqlalchemy_nor_anything_heavy(env):
    assert imported_by(["--help"], env) == []


def test_certs_list_imports_the_database_layer_only(env):
    subprocess.run(
        [sys.executable, "-m", "jobs.cli", "db", "upgrade"], env=env, cwd=ROOT, check=True
    )
    assert imported_by(["certs", "list", "--json"], env) == ["sqlalchemy"]


def test_help_lists_every_noun_and_top_level_command():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    listed = re.findall(r"^│ ([a-z][a-z-]*) ", result.output, flags=re.MULTILINE)
    assert listed == [*TOP_LEVEL, *NOUNS]


def readme_commands() -> list[list[str]]:
    """Every ``certpush WORD...`` of the README's command table, alternatives spelled out."""
    section = (ROOT / "README.md").read_text().split("## Command line", 1)[1]
    rows = [line for line in section.split("\n\n###")[0].splitlines() if line.startswith("| `")]
    commands = []
    for span in re.findall(r"`certpush ([^`]+)`", "\n".join(rows)):
        words = []
        for token in span.split():
            if not re.fullmatch(r"[a-z][a-z-]*(\\\|[a-z][a-z-]*)*", token):
                break
            words.append(token.split("\\|"))
        prefix, last = [w[0] for w in words[:-1]], words[-1]
        commands.extend([*prefix, alternative] for alternative in last)
    return commands


def test_every_command_of_the_readme_table_exists():
    commands = readme_commands()
    assert ["workorders", "reschedule"] in commands and ["report-weekly"] in commands
    for words in commands:
        result = CliRunner().invoke(app, [*words, "--help"])
        assert result.exit_code == 0, (words, result.output)


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "jobs.cli"],
        [str(Path(sys.executable).with_name("certpush"))],
    ],
    ids=["python -m jobs.cli", "certpush"],
)
def test_both_entry_points_run(command, env):
    if not Path(command[0]).exists():
        pytest.skip("no certpush console script beside this interpreter")
    result = subprocess.run(
        [*command, "keys", "generate", "--print"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}=?\n", result.stdout)
    missing = subprocess.run(
        [*command, "certs", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 1
    assert missing.stderr == (
        "error: the database has no certpush schema yet: run 'certpush db upgrade' first\n"
    )


def test_a_noun_alone_behaves_as_in_the_whole_app(env):
    """`certpush NOUN …` runs on a root holding only that noun (jobs.cli.app_for): its usage
    lines, listings and errors must read exactly as they do from the whole app."""
    from jobs.cli import app_for

    whole = CliRunner()
    for args in (["certs", "--help"], ["certs", "nope"], ["workorders"], ["users", "add"]):
        alone = app_for(["certpush", *args])
        assert alone is not app
        expected = whole.invoke(app, args, prog_name="certpush", env=env)
        got = whole.invoke(alone, args, prog_name="certpush", env=env)
        assert (got.exit_code, got.output) == (expected.exit_code, expected.output), args
    assert app_for(["certpush", "--help"]) is app
    assert app_for(["certpush", "import", "x.pem"]) is app
    assert app_for(["certpush"]) is app
