"""Where the topology's nodes go: preset positions computed here, not by a layout in the page.

The graph is a tree (certificate -> connectors -> endpoints). Cytoscape's tree layout
(breadthfirst) puts all the leaves of a level on one row: an expanded connector of 200
endpoints became a row some 20,000 px wide, unreadable once fitted. Here every node
gets a position from the size of its shape and of its label, estimated from the text:

- a connector's few endpoints (up to ROW_LIMIT) sit in a row under it, one edge each;
- more are a grid in a frame under it (one edge to the frame, not 200 crossing edges),
  its columns chosen so that the grid is about GRID_ASPECT times as wide as it is tall;
- connectors with what hangs from them are columns side by side; wider than
  BAND_WIDTH they make two rows, one below the certificate and one above it (its
  columns upside down), so many connectors make neither a ribbon nor crossing edges.

Every node's box is its shape plus its label below it (cytoscape draws labels under
the node, see the stylesheet in graph.py, which takes its sizes from SHAPES); boxes
never overlap, so neither do nodes nor labels. The text widths are estimates on the
wide side (DejaVu Sans, the widest of the usual sans-serif fonts), checked against the
real drawing by the browser test tests/e2e/test_topology_browser.py.

Pure geometry on numbers and strings: no Dash, no database.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """A node kind's drawn size and label font, for the stylesheet and for the layout."""

    width: float
    height: float
    font_px: float = 11


SHAPES: dict[str, Shape] = {
    "certificate": Shape(64, 44, 13),
    "connector": Shape(40, 40),
    "endpoint": Shape(24, 24),
    "summary": Shape(48, 40),
}
LINE_HEIGHT = 1.25  # label lines, in font sizes (the stylesheet's line-height)
LABEL_MARGIN = 6  # between a node and its label below (text-margin-y)
BORDER = 6  # the widest border a node may get (an open work order's double border)

LINE_CHARS = 36  # a label line wraps after this many characters, at a word's end
WORD_CHARS = 48  # a single word is cut only when longer than this (never an address)
MAX_LABEL_PX = 360.0  # text-max-width: wider than any line made here, so never re-wrapped

GAP_X = 12.0  # between two boxes side by side
GAP_Y = 10.0  # between two rows of boxes
LEVEL_GAP = 44.0  # between a node and what hangs below it
COLUMN_GAP = 48.0  # between two connector columns
ROW_LIMIT = 6  # up to this many endpoints stand in a row under their connector
GRID_ASPECT = 1.8  # width / height aimed at for a grid (the panel is ~1.5, less the levels above)
BAND_WIDTH = 1400.0  # a row of connector columns wider than this is split in two
FRAME_PAD = 12.0  # inside a grid's frame, around the grid
FRAME_HEAD = 28.0  # room for the frame's own label at its top (FRAME_FONT_PX high)
FRAME_FONT_PX = 16  # larger than node labels: it still reads when a big grid is fitted

# Advance widths in em of DejaVu Sans (rounded up): wider than Helvetica, Arial,
# Liberation Sans or Nimbus Sans, so a label measured here is never wider in a browser.
_NARROW = set("iljI.,:;'|!()[]{} ")
_SEMI = set('frt-/*"`·')
_WIDE = set("mwMW@%&")


def char_em(ch: str) -> float:
    """The width of one character in em, on the wide side."""
    if ch in _NARROW:
        return 0.35
    if ch in _SEMI:
        return 0.45
    if ch in _WIDE:
        return 1.0
    if ch.isdigit():
        return 0.64
    if ch.isupper() or not ch.isascii():
        return 0.8
    return 0.64


def text_width(line: str, font_px: float) -> float:
    """Estimated drawn width of one line of text, in px."""
    return sum(char_em(ch) for ch in line) * font_px


def label_size(label: str, font_px: float) -> tuple[float, float]:
    """Estimated (width, height) of a label of "\\n"-separated lines, in px."""
    if not label:
        return 0.0, 0.0
    lines = label.split("\n")
    width = max(text_width(line, font_px) for line in lines)
    return width, len(lines) * font_px * LINE_HEIGHT


# A line may break after a space, dot, hyphen, underscore, slash, @ or comma: names like
# "payments-api.corp.example" wrap at their dots, never inside a word.
_BREAK = re.compile(r"(?<=[ .\-_/@,;])")


def wrap(text: str, *, width: int = LINE_CHARS, max_lines: int = 2) -> list[str]:
    """``text`` on at most ``max_lines`` lines of about ``width`` characters, whole words.

    Newlines and runs of spaces become one space (a name cannot add label lines). Lines
    break after spaces and separators; a word longer than WORD_CHARS is the only thing
    ever cut. When the text needs more lines, the last one ends with "…" after a whole
    word: the full text is in the node's details.
    """
    flat = " ".join(text.split())
    if not flat:
        return []
    tokens: list[str] = []
    for token in _BREAK.split(flat):
        while len(token) > WORD_CHARS:
            tokens.append(token[:width])
            token = token[width:]
        if token:
            tokens.append(token)
    lines: list[str] = []
    current = ""
    for token in tokens:
        if current and len((current + token).rstrip()) > width:
            lines.append(current.rstrip())
            current = ""
        current += token
    if current.strip():
        lines.append(current.rstrip())
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(" .-_/@,;") + "…"
    return lines


@dataclass(frozen=True)
class Box:
    """A node and its label: ``width`` x ``height`` px, the node at the top, centred."""

    width: float
    height: float
    node_height: float

    @property
    def centre(self) -> tuple[float, float]:
        """Where the node's centre lies, from the box's top-left corner."""
        return self.width / 2, self.node_height / 2


def node_box(kind: str, label: str) -> Box:
    """The box a node of ``kind`` with ``label`` needs (shape, border, label below it)."""
    shape = SHAPES[kind]
    text_w, text_h = label_size(label, shape.font_px)
    node_w, node_h = shape.width + BORDER, shape.height + BORDER
    height = node_h + (LABEL_MARGIN + text_h if text_h else 0)
    return Box(max(node_w, text_w + 2), height, node_h)


@dataclass(frozen=True)
class Block:
    """Boxes placed together: each box's node centre (from the block's top-left) and the
    block's size."""

    centres: tuple[tuple[float, float], ...]
    width: float
    height: float


def grid_columns(count: int, cell_w: float, cell_h: float, aspect: float = GRID_ASPECT) -> int:
    """How many columns make ``count`` cells about ``aspect`` times as wide as tall."""
    if count <= 1:
        return 1
    columns = round(math.sqrt(count * aspect * cell_h / cell_w))
    columns = max(1, min(count, columns))
    rows = math.ceil(count / columns)
    return math.ceil(count / rows)  # as few columns as the rows need: no ragged last row


def grid(boxes: Sequence[Box], aspect: float = GRID_ASPECT) -> Block:
    """Boxes row by row in a table: each column as wide as its widest box, each row as tall
    as its tallest, so one long label widens its own column only."""
    if not boxes:
        return Block((), 0.0, 0.0)
    typical_w = sum(b.width for b in boxes) / len(boxes) + GAP_X
    typical_h = sum(b.height for b in boxes) / len(boxes) + GAP_Y
    columns = grid_columns(len(boxes), typical_w, typical_h, aspect)
    rows = math.ceil(len(boxes) / columns)
    widths = [0.0] * columns
    heights = [0.0] * rows
    for i, b in enumerate(boxes):
        widths[i % columns] = max(widths[i % columns], b.width)
        heights[i // columns] = max(heights[i // columns], b.height)
    lefts = [sum(widths[:c]) + GAP_X * c for c in range(columns)]
    tops = [sum(heights[:r]) + GAP_Y * r for r in range(rows)]
    # Each node at the top of its cell, centred across its column.
    centres = tuple(
        (lefts[i % columns] + widths[i % columns] / 2, tops[i // columns] + b.node_height / 2)
        for i, b in enumerate(boxes)
    )
    return Block(centres, lefts[-1] + widths[-1], tops[-1] + heights[-1])


def row(boxes: Sequence[Box], gap: float = GAP_X) -> Block:
    """Boxes side by side, top-aligned."""
    centres = []
    x = 0.0
    for b in boxes:
        centres.append((x + b.width / 2, b.node_height / 2))
        x += b.width + gap
    width = x - gap if boxes else 0.0
    return Block(tuple(centres), width, max((b.height for b in boxes), default=0.0))


def fan_clearance(offsets: Sequence[float], near: float, margin: float = 8.0) -> float:
    """How far a fan's source must stand from the line of its targets' centres so that no
    straight edge to a target passes through another target nearer the source.

    ``offsets``: the targets' horizontal offsets from the source; ``near``: how far a
    target's box reaches from its centre toward the source. The edge to a target at X
    passes a neighbour at x (|x| < |X|, same side) at D * |x| / |X| from the source,
    which must stay short of D - near: D >= (near + margin) * |X| / (|X| - |x|).
    """
    needed = 0.0
    for side in (1.0, -1.0):
        reach = sorted(abs(x) for x in offsets if x * side >= 0)
        for inner, outer in itertools.pairwise(reach):
            if outer > inner:
                needed = max(needed, (near + margin) * outer / (outer - inner))
    return needed


def split_row(widths: Sequence[float]) -> tuple[list[int], list[int]]:
    """Columns of ``widths`` in one row, or, wider than BAND_WIDTH, in two rows of about
    equal width (in order): (first row, second row); the second is empty for one row.

    Two rows, not more: the page puts one above the certificate and one below it, so no
    edge from the certificate ever crosses another connector's column.
    """

    def span(part: Sequence[float]) -> float:
        return sum(part) + COLUMN_GAP * max(0, len(part) - 1)

    indices = list(range(len(widths)))
    if len(widths) < 2 or span(widths) <= BAND_WIDTH:
        return indices, []
    best = min(
        range(1, len(widths)),
        key=lambda k: (max(span(widths[:k]), span(widths[k:])), k),
    )
    return indices[:best], indices[best:]
