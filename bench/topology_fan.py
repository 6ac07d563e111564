"""Benchmark: how long the topology graph of a widely deployed certificate takes to draw.

What is measured
----------------
A certificate bound to 20 connectors of 1,000 endpoints each (mixed states) is turned
into cytoscape elements by ``dashboard.graph.topology_elements`` and drawn by
dash-cytoscape with the real ``LAYOUT`` and ``STYLESHEET``, in a tiny Dash app served
in-process (werkzeug, 127.0.0.1, free port, background thread) and opened in Debian's
headless Chromium through Playwright. Scenarios:

* tiny: 2 connectors with 3 and 5 endpoints (the floor: Dash and cytoscape start-up);
* collapsed 20x1,000: every connector is one summary node (41 nodes), target < 1.5 s;
* one expanded: one connector expanded, so MAX_EXPANDED endpoints plus "+N more"
  are drawn (241 nodes), same target;
* uncapped (comparison, marked *): the same with MAX_EXPANDED lifted, 1,000 endpoint
  nodes under one connector, to show what the cap saves.

Each scenario is loaded two ways. "in layout": the elements are in the page layout, so
cytoscape gets them when it mounts. "via callback": the page starts empty and a Dash
callback fills ``elements``, the way the real topology page does (there dash-cytoscape
adds them, re-runs the layout 100 ms later and copies every element back into Dash).

How "drawn" is detected
-----------------------
An init script, run before any page script, watches the one place cytoscape announces
itself: the core stores ``{cy}`` as ``container._cyreg`` on its container div (the
div with id "topology-graph"; checked after each run against ``window.cy``, which
dash-cytoscape also sets). When that ``cy`` appears, the script wraps ``cy.layout()``
so every layout run gets a ``layoutstop`` listener. On a ``layoutstop`` with the
expected number of nodes it waits for cytoscape's next ``render`` event, which the
canvas renderer emits after it has painted a frame; the time of that event,
``performance.now()`` (milliseconds since navigation start), is "drawn". Counting
nodes alone would be too early (on the callback path the nodes sit unplaced for
100 ms before the layout), and a fixed sleep would measure the sleep.

A PerformanceObserver records long tasks (> 50 ms) from navigation start until 1 s
after "drawn": "longest" is the longest time the tab could not react to input, "quiet"
when the main thread was free again (the later of "drawn" and the end of the last long
task; e.g. dash-cytoscape copying the elements back into Dash comes after "drawn").

Every page load runs in a fresh tab of one browser; the first load of each scenario
and mode is a warm-up (HTTP cache, JIT) and not counted; the table shows medians of
``--runs`` loads.

Usage
-----
    .venv/bin/python bench/topology_fan.py
    .venv/bin/python bench/topology_fan.py --runs 9 --screenshots /tmp/topology-shots
    .venv/bin/python bench/topology_fan.py --mode callback --no-uncapped
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import dash
import dash_cytoscape as cyto
import flask
from dash import Dash, Input, Output, dcc, html
from dash.exceptions import PreventUpdate
from werkzeug.serving import make_server

from dashboard import graph
from dashboard.graph import LAYOUT, STYLESHEET, topology_elements
from data.domain.nodes import ConnectorState, ConnectorView, EndpointState, EndpointView
from data.domain.status import Status
from data.queries import CertificateDetail, CertificateRow

TARGET_MS = 1500.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GRAPH_ID = "topology-graph"  # as on the real page, so the container div is the same
MODES = ("layout", "callback")
SETTLE_MS = 1000  # how long after "drawn" long tasks are still collected

# --------------------------------------------------------------------------- synthetic data

# Endpoint states of a large, mostly healthy fleet, and connector push states.
ENDPOINT_MIX = (
    (EndpointState.MATCH, 0.86),
    (EndpointState.UNREACHABLE, 0.06),
    (EndpointState.MISMATCH, 0.03),
    (EndpointState.UNVERIFIED, 0.05),
)
CONNECTOR_MIX = (
    (ConnectorState.INSTALLED, 0.8),
    (ConnectorState.FAILED, 0.1),
    (ConnectorState.NOT_PUSHED, 0.1),
)


def synthetic_certificate() -> CertificateDetail:
    """A valid certificate as the topology page gets it from data.queries."""
    now = datetime.now(UTC)
    row = CertificateRow(
        id=1,
        fingerprint_sha256="5e" * 32,
        common_name="shop.example.com",
        sans=("shop.example.com", "www.shop.example.com"),
        issuer="CN=Example Corp Issuing CA 1,O=Example Corp,C=DE",
        serial="4f3a9c",
        not_before=now - timedelta(days=30),
        not_after=now + timedelta(days=200),
        days_left=200,
        status=Status.GREEN,
    )
    return CertificateDetail(
        row=row,
        subject="CN=shop.example.com",
        key_type="EC",
        key_size=256,
        signature_algorithm="ecdsa-with-SHA256",
        extended_key_usage=("serverAuth",),
        is_ca=False,
        has_private_key=True,
        revoked_at=None,
        revocation_reason=None,
        parse_warnings=(),
        source="bench",
    )


def synthetic_connectors(sizes: Sequence[int], seed: int) -> list[ConnectorView]:
    """Connectors with ``sizes[i]`` endpoints each, states drawn from the mixes above."""
    rng = random.Random(seed)
    endpoint_states, endpoint_weights = zip(*ENDPOINT_MIX, strict=True)
    connector_states, connector_weights = zip(*CONNECTOR_MIX, strict=True)
    connectors = []
    next_endpoint = 1
    for index, size in enumerate(sizes, start=1):
        states = rng.choices(endpoint_states, endpoint_weights, k=size)
        endpoints = []
        for i, state in enumerate(states):
            host = f"10.{index}.{i // 250}.{i % 250 + 1}"
            endpoints.append(EndpointView(next_endpoint, host, 443, "shop.example.com", state))
            next_endpoint += 1
        [state] = rng.choices(connector_states, connector_weights)
        detail = {
            ConnectorState.INSTALLED: "installed 2026-11-27 15:02 UTC",
            ConnectorState.FAILED: "SSH: connection refused",
            ConnectorState.NOT_PUSHED: "",
        }[state]
        connectors.append(
            ConnectorView(
                index, f"lb-{index:02d}.dc{index % 3 + 1}", "nginx", state, tuple(endpoints), detail
            )
        )
    return connectors


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    elements: list[dict[str, Any]]
    target_ms: float | None
    extra: bool = False

    @property
    def nodes(self) -> int:
        return sum(1 for e in self.elements if "source" not in e["data"])


def scenarios(seed: int, uncapped: bool) -> list[Scenario]:
    """The rows of the table, their elements built once by the real topology_elements."""
    detail = synthetic_certificate()
    fleet = synthetic_connectors([1_000] * 20, seed)
    found = [
        Scenario(
            "tiny",
            "tiny: 2 connectors, 3 + 5 endpoints",
            topology_elements(detail, synthetic_connectors([3, 5], seed)),
            None,
        ),
        Scenario(
            "collapsed",
            "collapsed: 20 x 1,000 endpoints",
            topology_elements(detail, fleet),
            TARGET_MS,
        ),
        Scenario(
            "expanded",
            f"one expanded ({graph.MAX_EXPANDED} drawn)",
            topology_elements(detail, fleet, expanded={fleet[0].id}),
            TARGET_MS,
        ),
    ]
    if uncapped:
        # The cap lifted for comparison only: what one tap would cost without MAX_EXPANDED.
        with mock.patch.object(graph, "MAX_EXPANDED", 10**9):
            elements = topology_elements(detail, fleet, expanded={fleet[0].id})
        found.append(Scenario("uncapped", "one expanded, no cap (1,000)", elements, None, True))
    return found


# --------------------------------------------------------------------------- the app


def build_server(cases: Sequence[Scenario], modes: Sequence[str]) -> flask.Flask:
    """One Flask server holding a page per scenario and mode, at ``/<key>/<mode>/``.

    Each page holds only the topology graph, with the real page's graph properties.
    "layout" pages carry the elements in their layout; "callback" pages start empty and
    a callback fills them, like dashboard/callbacks/topology.py. One Dash app per page,
    because Dash fetches the layout by XHR, without the page's query string.
    """
    server = flask.Flask(__name__)
    for case in cases:
        for mode in modes:
            app = Dash(
                __name__,
                server=server,
                url_base_pathname=f"/{case.key}/{mode}/",
                serve_locally=True,
                update_title=None,
            )
            by_callback = mode == "callback"
            app.layout = html.Div(
                [
                    dcc.Store(id="bench-case", data=case.key if by_callback else None),
                    cyto.Cytoscape(
                        id=GRAPH_ID,
                        elements=[] if by_callback else case.elements,
                        layout=LAYOUT,
                        stylesheet=STYLESHEET,
                        # as on the real page: an lg=8 column of a 1,400 px window
                        style={"width": "900px", "height": "460px"},
                        minZoom=0.2,
                        maxZoom=1.25,
                    ),
                ]
            )
            if by_callback:
                _fill_by_callback(app, case)
    return server


def _fill_by_callback(app: Dash, case: Scenario) -> None:
    @app.callback(Output(GRAPH_ID, "elements"), Input("bench-case", "data"))
    def fill(key: str | None) -> list[dict[str, Any]]:
        if key != case.key:
            raise PreventUpdate
        return case.elements


@contextmanager
def serving(app: flask.Flask) -> Iterator[str]:
    """The app on 127.0.0.1 on a free port in a background thread; yields its URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="bench-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- measuring

# Runs before any page script. See "How drawn is detected" in the module docstring.
INSTRUMENT_JS = """
(() => {
  const bench = window.__topologyBench = {
    expected: null, created: null, layoutStops: [], drawn: null, longTasks: [],
  };
  try {
    new PerformanceObserver((list) => {
      for (const t of list.getEntries()) bench.longTasks.push([t.startTime, t.duration]);
    }).observe({type: 'longtask', buffered: true});
  } catch (e) { bench.longTaskError = String(e); }

  function onLayoutStop(cy) {
    const nodes = cy.nodes().length;
    bench.layoutStops.push([performance.now(), nodes]);
    if (bench.drawn === null && nodes === bench.expected) {
      cy.one('render', () => {
        if (bench.drawn === null) {
          bench.drawn = performance.now();
          bench.drawnNodes = cy.nodes().length;
        }
      });
    }
  }

  function instrument(cy) {
    if (bench.created === null) bench.created = performance.now();
    const proto = Object.getPrototypeOf(cy);
    if (proto.__benchWrapped) return;
    const layout = proto.layout;
    proto.layout = function (...args) {
      const run = layout.apply(this, args);
      const core = this;
      run.one('layoutstop', () => onLayoutStop(core));
      return run;
    };
    proto.__benchWrapped = true;
  }

  const slot = Symbol('cyreg');
  Object.defineProperty(HTMLElement.prototype, '_cyreg', {
    configurable: true,
    get() { return this[slot]; },
    set(reg) {
      this[slot] = reg;
      if (!reg || Object.getOwnPropertyDescriptor(reg, 'cy')?.set) return;
      let cy = reg.cy;
      Object.defineProperty(reg, 'cy', {
        configurable: true,
        enumerable: true,
        get() { return cy; },
        set(value) { cy = value; if (value) instrument(value); },
      });
    },
  });
})();
"""


def instrument_script(expected_nodes: int) -> str:
    """INSTRUMENT_JS for a page whose graph is complete at ``expected_nodes`` nodes."""
    return INSTRUMENT_JS.replace("expected: null", f"expected: {int(expected_nodes)}")


# After a load: is the cytoscape instance where we looked, and did every node keep its
# classes once dash-cytoscape copied the elements back into Dash (without classes)?
CHECK_JS = """
(id) => {
  const cy = document.getElementById(id)?._cyreg?.cy;
  return {
    sameAsWindowCy: !!cy && cy === window.cy,
    nodes: cy ? cy.nodes().length : null,
    unstyled: cy ? cy.nodes().filter((n) => n.classes().length === 0).length : null,
    bench: window.__topologyBench,
  };
}
"""


@dataclass
class Sample:
    created_ms: float
    layout_ms: float
    drawn_ms: float
    longest_task_ms: float
    quiet_ms: float


@dataclass
class Result:
    scenario: Scenario
    mode: str
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    def median(self, name: str) -> float:
        return statistics.median(getattr(s, name) for s in self.samples)

    @property
    def passed(self) -> bool | None:
        if self.error is not None:
            return False
        if self.scenario.target_ms is None:
            return None
        return self.median("drawn_ms") < self.scenario.target_ms


def load_once(context: Any, url: str, expected: int, timeout_ms: float) -> tuple[Sample, dict]:
    """One fresh tab: navigate, wait for the full draw and the settling second after it."""
    page = context.new_page()
    try:
        page.add_init_script(instrument_script(expected))
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.__topologyBench?.drawn != null", timeout=timeout_ms)
        page.wait_for_function(
            f"() => performance.now() > window.__topologyBench.drawn + {SETTLE_MS}",
            timeout=timeout_ms,
        )
        check = page.evaluate(CHECK_JS, GRAPH_ID)
    finally:
        page.close()
    bench = check["bench"]
    drawn = bench["drawn"]
    tasks = [(start, duration) for start, duration in bench["longTasks"]]
    in_window = [(s, d) for s, d in tasks if s <= drawn + SETTLE_MS]
    layout = next(t for t, nodes in bench["layoutStops"] if nodes == expected)
    sample = Sample(
        created_ms=bench["created"],
        layout_ms=layout,
        drawn_ms=drawn,
        longest_task_ms=max((d for _s, d in in_window), default=0.0),
        quiet_ms=max([drawn, *(s + d for s, d in in_window)]),
    )
    return sample, check


def run_all(
    cases: list[Scenario], modes: Sequence[str], runs: int, shots: Path | None
) -> tuple[list[Result], str, list[str]]:
    """Every scenario in every mode: results, the Chromium version, failed sanity checks."""
    from playwright.sync_api import sync_playwright

    results: list[Result] = []
    checks: list[str] = []
    with serving(build_server(cases, modes)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            for case in cases:
                for mode in modes:
                    url = f"{base}/{case.key}/{mode}/"
                    result = Result(case, mode)
                    results.append(result)
                    print(f"  {case.name} [{mode}]", file=sys.stderr)
                    try:
                        _sample, check = load_once(context, url, case.nodes, 60_000)  # warm-up
                        if not check["sameAsWindowCy"] or check["unstyled"]:
                            checks.append(f"{case.key}/{mode}: unexpected {check}")
                        for _ in range(runs):
                            sample, _check = load_once(context, url, case.nodes, 60_000)
                            result.samples.append(sample)
                    except Exception as exc:  # report it and go on with the other cases
                        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                    if shots is not None and mode == modes[0]:
                        screenshot(context, url, case.nodes, shots / f"topology-{case.key}.png")
        finally:
            context.close()
            browser.close()
    return results, version, checks


def screenshot(context: Any, url: str, expected: int, path: Path) -> None:
    """A PNG of the graph once drawn, to judge legibility (timings say nothing of it)."""
    page = context.new_page()
    try:
        page.add_init_script(instrument_script(expected))
        page.goto(url)
        page.wait_for_function("() => window.__topologyBench?.drawn != null", timeout=60_000)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.locator(f"#{GRAPH_ID}").screenshot(path=str(path))
    finally:
        page.close()


# --------------------------------------------------------------------------- report


def print_table(results: list[Result], runs: int) -> None:
    width = max(len(r.scenario.name) for r in results) + 4
    header = (
        f"{'scenario':{width}}{'mode':<10}{'nodes':>6}{'cy made':>9}{'layout':>8}"
        f"{'drawn':>8}{'min':>7}{'max':>7}{'longest':>9}{'quiet':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        name = ("* " if r.scenario.extra else "  ") + r.scenario.name
        lead = f"{name:{width}}{r.mode:<10}{r.scenario.nodes:>6}"
        if r.error is not None or not r.samples:
            print(f"{lead}  ERROR {r.error}")
            continue
        drawn = [s.drawn_ms for s in r.samples]
        verdict = {None: "-", True: "PASS", False: "FAIL"}[r.passed]
        target = r.scenario.target_ms
        print(
            f"{lead}{r.median('created_ms'):>9.0f}{r.median('layout_ms'):>8.0f}"
            f"{r.median('drawn_ms'):>8.0f}{min(drawn):>7.0f}{max(drawn):>7.0f}"
            f"{r.median('longest_task_ms'):>9.0f}{r.median('quiet_ms'):>8.0f}"
            f"  {verdict}{f' (< {target:,.0f})' if target else ''}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed page loads per row")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic states")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument(
        "--no-uncapped", action="store_true", help="skip the uncapped comparison row"
    )
    parser.add_argument("--screenshots", type=Path, help="save a PNG of each graph here")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2

    cases = scenarios(args.seed, uncapped=not args.no_uncapped)
    modes = MODES if args.mode == "both" else (args.mode,)
    print(f"loading {len(cases) * len(modes) * (args.runs + 1)} pages", file=sys.stderr)
    results, version, checks = run_all(cases, modes, args.runs, args.screenshots)

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print()
    print("certpush topology benchmark: dashboard.graph elements drawn by dash-cytoscape")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"CPUs: os.cpu_count()={os.cpu_count()}, usable={affinity}; load average {load}")
    print(
        f"Python {sys.version.split()[0]}, Dash {dash.__version__}, "
        f"dash-cytoscape {cyto.__version__}, Chromium {version} (headless, no GPU)"
    )
    print(f"LAYOUT={LAYOUT}; FAN_LIMIT={graph.FAN_LIMIT}, MAX_EXPANDED={graph.MAX_EXPANDED}")
    print(
        f"ms since navigation start, medians of {args.runs} loads after 1 warm-up; "
        "min/max of drawn;"
    )
    print("cy made: cytoscape created; layout: layoutstop with all nodes; drawn: first frame")
    print("painted after it; longest: longest main-thread task from navigation start to")
    print("1 s after drawn; quiet: when the main thread was free again (the later of drawn")
    print("and the end of the last such task). * = comparison only")
    print_table(results, args.runs)
    for line in checks:
        print("check failed:", line)
    if args.screenshots:
        print(f"screenshots in {args.screenshots}")
    failed = checks or any(r.passed is False for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
