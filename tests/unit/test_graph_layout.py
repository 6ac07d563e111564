"""Where the topology's nodes go: no two boxes (node plus label) overlap, at any size, and
the graph stays compact. Pure geometry on the elements topology_elements returns; the
browser test (tests/e2e/test_topology_browser.py) checks the same on what Chromium draws.
"""

from __future__ import annotations

import itertools

import pytest

from dashboard.graph import MAX_EXPANDED, topology_elements
from dashboard.graph_layout import (
    BORDER,
    GRID_ASPECT,
    LINE_CHARS,
    SHAPES,
    WORD_CHARS,
    Box,
    grid,
    node_box,
    text_width,
    wrap,
)
from data.domain.nodes import ConnectorState, ConnectorView, EndpointState, EndpointView
from tests.unit.test_graph import certificate, connector, mixed, nodes

Rect = tuple[str, float, float, float, float]  # id, x1, y1, x2, y2


def rects(elements: list[dict], kinds: set[str] | None = None) -> list[Rect]:
    """Each node's box (shape with border, label below) where the layout put it."""
    found = []
    for node in nodes(elements):
        data = node["data"]
        if kinds is not None and data["kind"] not in kinds:
            continue
        x, y = node["position"]["x"], node["position"]["y"]
        if data["kind"] == "group":
            w, h = data["width"], data["height"]
            found.append((data["id"], x - w / 2, y - h / 2, x + w / 2, y + h / 2))
            continue
        box = node_box(data["kind"], data["label"])
        top = y - box.node_height / 2
        found.append((data["id"], x - box.width / 2, top, x + box.width / 2, top + box.height))
    return found


def overlapping(boxes: list[Rect]) -> list[tuple[str, str]]:
    """Pairs that overlap (sweep along x: fine for thousands of boxes)."""
    pairs = []
    ordered = sorted(boxes, key=lambda r: r[1])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b[1] >= a[3]:
                break
            if a[2] < b[4] and b[2] < a[4]:
                pairs.append((a[0], b[0]))
    return pairs


def extent(boxes: list[Rect]) -> tuple[float, float]:
    xs = [v for r in boxes for v in (r[1], r[3])]
    ys = [v for r in boxes for v in (r[2], r[4])]
    return max(xs) - min(xs), max(ys) - min(ys)


def inside(inner: Rect, outer: Rect) -> bool:
    return (
        outer[1] <= inner[1]
        and inner[3] <= outer[3]
        and outer[2] <= inner[2]
        and (inner[4] <= outer[4])
    )


@pytest.mark.parametrize("count", [1, 25, 26, 200, 1000])
def test_an_expanded_connector_of_any_size_has_no_overlaps_and_stays_compact(count):
    states = list(itertools.islice(itertools.cycle(EndpointState), count))
    big = connector(1, states, name="edge-lb-frankfurt-01")
    elements = topology_elements(certificate(), [big], expanded={1})
    drawn = min(count, MAX_EXPANDED)
    endpoints = rects(elements, {"endpoint"})
    assert len(endpoints) == drawn
    # Nothing overlaps: endpoints, the connector, the certificate, the "+N more" node.
    assert overlapping(rects(elements, {"certificate", "connector", "endpoint", "summary"})) == []
    groups = rects(elements, {"group"})
    if drawn > 6:  # a grid, in a frame holding every endpoint and nothing else
        [frame] = groups
        assert all(inside(r, frame) for r in endpoints)
        assert not any(inside(r, frame) for r in rects(elements, {"connector", "certificate"}))
        width, height = extent(endpoints)
        assert 1.0 <= width / height <= 3.0, (count, width, height)
    else:
        assert groups == []
    width, height = extent(rects(elements))
    assert width / height <= 4.0 and height / width <= 4.0, (count, width, height)


def test_two_hundred_endpoints_fit_a_laptop_panel_at_a_usable_zoom():
    elements = topology_elements(
        certificate(), [connector(1, mixed(match=150, unreachable=50))], expanded={1}
    )
    width, height = extent(rects(elements))
    # The page's graph panel is about 900 x 600 px: fitted, the whole graph is drawn at
    # 40 % or more (a 20,000 px row would be at 4 %), and zooming in reads the labels.
    assert min(900 / width, 600 / height) >= 0.4, (width, height)


@pytest.mark.parametrize("count", [1, 25, 26, 200, 1000])
def test_the_grid_alone_never_overlaps_and_keeps_its_aspect(count):
    # Boxes of uneven widths and heights, as labels make them.
    boxes = [Box(60 + (i * 37) % 90, 40 + (i % 3) * 14, 30) for i in range(count)]
    block = grid(boxes)
    placed = [
        (
            str(i),
            x - b.width / 2,
            y - b.node_height / 2,
            x + b.width / 2,
            y - b.node_height / 2 + b.height,
        )
        for i, (b, (x, y)) in enumerate(zip(boxes, block.centres, strict=True))
    ]
    assert overlapping(placed) == []
    assert all(r[1] >= 0 and r[2] >= 0 and r[3] <= block.width + 1e-6 for r in placed)
    assert all(r[4] <= block.height + 1e-6 for r in placed)
    if count >= 25:
        assert GRID_ASPECT / 2 <= block.width / block.height <= GRID_ASPECT * 2, count


def shapes(elements: list[dict]) -> dict[str, Rect]:
    """Each node's drawn shape (no label), by id."""
    found = {}
    for node in nodes(elements):
        data = node["data"]
        x, y = node["position"]["x"], node["position"]["y"]
        if data["kind"] == "group":
            w, h = data["width"], data["height"]
        else:
            shape = SHAPES[data["kind"]]
            w, h = shape.width + BORDER, shape.height + BORDER
        found[data["id"]] = (data["id"], x - w / 2, y - h / 2, x + w / 2, y + h / 2)
    return found


def crosses(a: tuple[float, float], b: tuple[float, float], r: Rect) -> bool:
    """Whether the segment a-b passes through the rectangle (Liang-Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dx, a[0] - r[1]), (dx, r[3] - a[0]), (-dy, a[1] - r[2]), (dy, r[4] - a[1])):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def crossings(elements: list[dict]) -> list[tuple[str, str]]:
    """(edge, node) pairs where an edge passes through a node it does not join. An edge
    into a frame stops at the frame, so the nodes inside that frame do not count."""
    boxes = shapes(elements)
    centre = {n["data"]["id"]: (n["position"]["x"], n["position"]["y"]) for n in nodes(elements)}
    found = []
    for edge in (e for e in elements if "source" in e["data"]):
        source, target = edge["data"]["source"], edge["data"]["target"]
        framed = boxes[target] if target.startswith("group-") else None
        for node_id, box in boxes.items():
            if node_id in (source, target) or (framed and inside(box, framed)):
                continue
            if crosses(centre[source], centre[target], box):
                found.append((edge["data"]["id"], node_id))
    return found


def test_many_connectors_make_two_rows_around_the_certificate_and_no_edge_crosses_a_node():
    fleet = [connector(i, mixed(match=900, unreachable=60, mismatch=40)) for i in range(1, 21)]
    fleet += [connector(21, mixed(match=3)), connector(22, mixed(match=250))]
    elements = topology_elements(certificate(), fleet, expanded={22})
    boxes = rects(elements, {"certificate", "connector", "endpoint", "summary"})
    assert overlapping(boxes) == []
    outside = [r for r in rects(elements) if r[0].split("-")[0] not in ("endpoint", "more")]
    assert overlapping(outside) == []  # frames, connectors, summaries, the certificate
    assert crossings(elements) == []
    root = next(n for n in nodes(elements) if n["data"]["kind"] == "certificate")
    ys = {n["data"]["id"]: n["position"]["y"] for n in nodes(elements, "connector")}
    above = {i for i, y in ys.items() if y < root["position"]["y"]}
    assert 0 < len(above) < len(ys)  # one row above the certificate, one below
    assert "connector-22" not in above  # the tall grid hangs below
    width, height = extent(rects(elements))
    assert width / height <= 4.0, (width, height)


@pytest.mark.parametrize("count", [1, 3, 8, 25, 60])
def test_no_edge_crosses_a_node_for_any_number_of_connectors(count):
    fleet = [connector(i, mixed(match=i % 7 + 1, unreachable=i % 3)) for i in range(1, count + 1)]
    elements = topology_elements(certificate(), fleet, expanded={2})
    assert crossings(elements) == []
    assert overlapping(rects(elements, {"certificate", "connector", "endpoint", "summary"})) == []


def test_the_layout_is_the_same_every_time():
    fleet = [connector(1, mixed(match=40)), connector(2, mixed(unverified=3))]
    first = topology_elements(certificate(), fleet, expanded={1})
    assert first == topology_elements(certificate(), fleet, expanded={1})


def test_a_long_sni_name_widens_its_own_column_only():
    endpoints = tuple(
        EndpointView(i, f"10.0.0.{i}", 443, "a-very-long-name.portal.example" if i == 3 else None)
        for i in range(60)
    )
    view = ConnectorView(1, "lb", "nginx", ConnectorState.INSTALLED, endpoints)
    elements = topology_elements(certificate(), [view], expanded={1})
    xs = sorted({n["position"]["x"] for n in nodes(elements, "endpoint")})
    gaps = sorted(round(b - a) for a, b in itertools.pairwise(xs))
    assert len(set(gaps)) > 1  # one wider column, the others as narrow as their labels
    assert overlapping(rects(elements, {"endpoint"})) == []


# ----------------------------------------------------------------------------- labels


def test_wrap_breaks_after_separators_and_never_inside_a_word():
    assert wrap("payments-api.corp.example", width=12, max_lines=3) == [
        "payments-",
        "api.corp.",
        "example",
    ]
    assert wrap("payments-api.corp.example", width=12) == ["payments-", "api.corp…"]
    assert wrap("two\nlines  here") == ["two lines here"]
    assert wrap("") == [] and wrap("   ") == []
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron"
    lines = wrap(text, width=20, max_lines=2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    words = set(text.split())
    for line in lines:
        for word in line.rstrip("…").split():
            assert word in words  # whole words only
    assert all(len(line) <= 21 for line in lines)


def test_only_a_word_longer_than_any_line_is_cut():
    address = "[2001:db8:85a3:0:0:8a2e:370:7334]:65535"  # no separators, 39 characters
    assert len(address) <= WORD_CHARS and wrap(address, width=24) == [address]
    runaway = "x" * 500
    lines = wrap(runaway)
    assert len(lines) == 2 and all(len(line) <= LINE_CHARS + 1 for line in lines)


def test_text_width_is_on_the_wide_side():
    # 11 px DejaVu Sans, the widest usual sans-serif: "10.20.0.8:8443" measures ~84 px.
    assert text_width("10.20.0.8:8443", 11) >= 84
    assert text_width("WWWW", 11) > text_width("iiii", 11)
