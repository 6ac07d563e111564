"""Benchmark: how fast the ``certpush`` command line starts.

What is measured
----------------
A temporary instance is filled by ``certpush demo`` (``CERTPUSH_INSTANCE`` and
``CERTPUSH_DEMO_PORT`` point into the benchmark's own folder and port range, so
``./instance`` and a running ``make run`` are never touched). Then two commands
are each run ``--repeats`` times as whole processes, wall clock, the way an
operator or a script runs them (interpreter start-up and every import included):

* ``certpush --help``: typer, rich and the command modules, nothing else;
* ``certpush certs list --json``: SQLAlchemy, the models, one query and the JSON.

One unmeasured run of each comes first (byte-code and page cache). The target is
a median under 0.5 s for both. ``--baseline SCRIPT`` times another console script
(e.g. main's ``.venv/bin/certpush``) in alternation with this one, so that both
see the same load on a shared machine. For that reason the load average is printed too,
and each command's median CPU time (user + system), which other processes sway less.

Usage
-----
    .venv/bin/python bench/cli_start.py
    .venv/bin/python bench/cli_start.py --baseline /work/main/.venv/bin/certpush
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.import_throughput import cli_command, cli_env
from tests.servers import free_port_range

TARGET_SECONDS = 0.5
COMMANDS = (("--help",), ("certs", "list", "--json"))
NOUNS = ("db", "certs", "users", "keys", "connectors", "push", "workorders", "policy")


@dataclass
class Timings:
    """The wall-clock and CPU seconds of every measured run of one command by one script."""

    script: str
    args: tuple[str, ...]
    seconds: list[float]
    cpu_seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def bench_env(instance: Path) -> dict[str, str]:
    """import_throughput's clean environment for ``instance``, with its own demo ports and a
    fixed terminal width (help output is the same on every run)."""
    env = cli_env(instance)
    env["CERTPUSH_DEMO_PORT"] = str(free_port_range(5))
    env["COLUMNS"] = "100"
    return env


def children_cpu() -> float:
    """User plus system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(script: list[str], args: tuple[str, ...], env: dict[str, str]) -> tuple[float, float, str]:
    """One whole process: its wall-clock and CPU seconds and its standard output (exit 0)."""
    cpu = children_cpu()
    began = time.perf_counter()
    proc = subprocess.run(
        [*script, *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    seconds = time.perf_counter() - began
    cpu = children_cpu() - cpu
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join([*script, *args])} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        )
    return seconds, cpu, proc.stdout


def check_output(args: tuple[str, ...], stdout: str) -> str:
    """What the output proves (the nouns listed, the certificates counted), or raise."""
    if args == ("--help",):
        missing = [noun for noun in NOUNS if f" {noun} " not in stdout]
        if missing:
            raise RuntimeError(f"--help does not list {', '.join(missing)}")
        return f"{len(NOUNS)} nouns listed"
    return f"{len(json.loads(stdout))} certificates"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="measured runs of each command")
    parser.add_argument(
        "--baseline", help="another certpush console script, timed in alternation with this one"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance")
    args = parser.parse_args(argv)

    scripts = [cli_command()]
    if args.baseline:
        scripts.append([args.baseline])
    workdir = Path(tempfile.mkdtemp(prefix="certpush-bench-cli-"))
    try:
        env = bench_env(workdir / "instance")
        print(f"certpush demo into {workdir / 'instance'}", file=sys.stderr)
        run(scripts[0], ("demo", "--json"), env)
        load_before = os.getloadavg()
        results: list[Timings] = []
        checks: dict[tuple[str, ...], str] = {}
        for command in COMMANDS:
            timings = [Timings(" ".join(s), command, [], []) for s in scripts]
            for script in scripts:
                _, _, stdout = run(script, command, env)
                checks[command] = check_output(command, stdout)
            for _ in range(args.repeats):
                for script, timing in zip(scripts, timings, strict=True):
                    seconds, cpu, _ = run(script, command, env)
                    timing.seconds.append(seconds)
                    timing.cpu_seconds.append(cpu)
            results.extend(timings)
        load_after = os.getloadavg()

        print()
        print("certpush command-line start-up benchmark")
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        print(f"CPUs: os.cpu_count()={os.cpu_count()}, usable={affinity}")
        print(
            f"load average (1 min): {load_before[0]:.2f} before, {load_after[0]:.2f} after "
            "(other processes on a shared machine slow every run)"
        )
        print(f"Python {sys.version.split()[0]}; median of {args.repeats} whole-process runs")
        print(f"target: median < {TARGET_SECONDS} s")
        print()
        width = max(len(f"certpush {' '.join(t.args)}") for t in results) + 2
        header = (
            f"{'command':{width}}{'median s':>10}{'min s':>8}{'max s':>8}{'CPU s':>8}"
            "  verdict  script"
        )
        print(header)
        print("-" * (len(header) + 20))
        failed = False
        for timing in results:
            ours = timing.script == " ".join(scripts[0])
            verdict = "PASS" if timing.median < TARGET_SECONDS else "FAIL"
            failed = failed or (ours and verdict == "FAIL")
            label = f"certpush {' '.join(timing.args)}"
            print(
                f"{label:{width}}{timing.median:>10.3f}{min(timing.seconds):>8.3f}"
                f"{max(timing.seconds):>8.3f}{statistics.median(timing.cpu_seconds):>8.3f}"
                f"  {verdict:7}  {timing.script}"
            )
        print()
        for command, check in checks.items():
            print(f"certpush {' '.join(command)}: {check}")
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
