"""The builtin layout's geometry: where each box, label and edge of the service graph goes.

:func:`graph_layout` places the layered graph of :mod:`meshals.output._layout_order` in
pixels, left to right, and returns it as data (:class:`GraphLayout`): node boxes, label boxes
and each edge as pieces whose bounding boxes are known, so that what the picture promises can
be checked without drawing it:

- every item of a column has its own horizontal band there (the bands of a column never
  overlap), and an edge runs straight through its band; between two columns, where nothing
  is placed, it bends as an S-curve. So no edge passes through a box that is not its end, and
  no label overlaps a box or another label;
- a self-loop arches over the top of its box, its label above it, in the box's own band.

Vertical positions minimise the squared distance of each item from its neighbours' mean (so
that long edges run straight, and a label's edge runs straight into the box it points to)
under the bands' order and spacing: a few sweeps of isotonic regression (pool adjacent
violators) over the columns.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping, Sequence
from typing import Final

import attrs

from meshals._values import FrozenMap
from meshals.aggregate._topology import Topology

from ._graph_labels import _node_caption, edge_lines
from ._layout_order import Chain, Item, ItemKind, Ordered, order
from ._text_width import text_width

__all__: list[str] = []

NAME_FONT: Final = 14.0  # px: a service's name
CAPTION_FONT: Final = 11.0  # px: its kind, under the name
LABEL_FONT: Final = 11.0  # px: an edge's label
LABEL_LINE: Final = 13.0  # px from one label line to the next
NODE_HEIGHT: Final = 46.0
_NODE_PADDING: Final = 14.0
_MIN_NODE_WIDTH: Final = 80.0
_LABEL_PADDING: Final = 3.0  # around a label's text
_LINE_UNDER_LABEL: Final = 3.0  # from a label's box down to its edge
_BEND_HEIGHT: Final = 4.0
_LOOP_HEIGHT: Final = 22.0
_LOOP_WIDTH: Final = 28.0
_LOOP_LABEL_GAP: Final = 4.0
# Half the space between two bands of a column, by what the band holds.
_MARGIN: Final = {ItemKind.NODE: 10.0, ItemKind.LABEL: 7.5, ItemKind.BEND: 4.0}
_MIN_GAP: Final = 28.0  # between two columns, where edges bend
_MAX_GAP: Final = 140.0
_STEEPNESS: Final = 2.5  # an S-curve may climb this much per unit across (wider gaps else)
_PORT_STEP: Final = 11.0  # between the ends of a node's edges on one side
_ITERATIONS: Final = 24
_BEND_WEIGHT: Final = 4.0  # a bend pulls harder than a box: long edges stay straight
_LABEL_FOLLOWS: Final = 4  # how much more a label follows the box it points to

Point = tuple[float, float]


@attrs.frozen
class Rect:
    """An axis-aligned rectangle; y grows downwards."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def overlaps(self, other: Rect, *, tolerance: float = 0.01) -> bool:
        """Whether the two share more than a border (``tolerance`` is allowed)."""
        return (
            self.x < other.right - tolerance
            and other.x < self.right - tolerance
            and self.y < other.bottom - tolerance
            and other.y < self.bottom - tolerance
        )


class PieceKind(enum.Enum):
    """How a piece of an edge runs from its start to its end."""

    LINE = "line"  # straight
    CURVE = "curve"  # an S-curve that leaves and arrives horizontally
    LOOP = "loop"  # an arch up from the start and down to the end (a self-loop)


@attrs.frozen
class Piece:
    """A piece of an edge. Its whole drawing lies within :attr:`bounds`."""

    kind: PieceKind
    start: Point
    end: Point

    @property
    def bounds(self) -> Rect:
        """The rectangle that holds the piece (an S-curve's control points share its ends'
        heights and lie between them; a loop rises ``_LOOP_HEIGHT`` above its ends)."""
        (x0, y0), (x1, y1) = self.start, self.end
        top = min(y0, y1) - (_LOOP_HEIGHT if self.kind is PieceKind.LOOP else 0.0)
        return Rect(min(x0, x1), top, abs(x1 - x0), max(y0, y1) - top)


@attrs.frozen
class EdgePlace:
    """Where an edge goes: its pieces from source to destination, and its label's box."""

    source: str
    destination: str
    pieces: tuple[Piece, ...]
    label: Rect
    lines: tuple[str, ...]


@attrs.frozen
class GraphLayout:
    """The whole picture's geometry, from (0, 0) to (``width``, ``height``)."""

    width: float
    height: float
    nodes: FrozenMap[str, Rect]
    edges: FrozenMap[tuple[str, str], EdgePlace]


def label_size(lines: Sequence[str]) -> tuple[float, float]:
    """The box of an edge label's text lines: width, height."""
    width = max((text_width(line, LABEL_FONT) for line in lines), default=0.0)
    return width + 2 * _LABEL_PADDING, len(lines) * LABEL_LINE + 2 * _LABEL_PADDING


@attrs.define
class _Slot:
    """An item's band in its column (mutable while the layout is computed)."""

    width: float
    height: float
    anchor: float  # where edges pass or attach, from the band's top
    top: float = 0.0
    box: Rect | None = None  # a node's box or a label's text; from the band's top until placed


@attrs.frozen
class _Placed:
    """The layered graph in pixels: bands, columns, where each edge meets each box."""

    layered: Ordered
    slots: list[_Slot]
    lefts: list[float]
    widths: list[float]
    ports: dict[tuple[int, tuple[str, str]], float]

    def box(self, item: int) -> Rect:
        box = self.slots[item].box
        assert box is not None  # a node's or a label's
        return box

    def anchor(self, item: int) -> float:
        return self.slots[item].top + self.slots[item].anchor


def graph_layout(
    graph: Topology, *, labels: Mapping[tuple[str, str], tuple[str, ...]] | None = None
) -> GraphLayout:
    """Lay out the graph left to right (see the module docstring).

    Args:
        graph: the service graph.
        labels: each edge's label lines (default the graph's own, :func:`edge_lines`); a
            drawing of other figures (``meshals diff``'s) places its own.

    Returns:
        The geometry; the same graph always gives the same layout.
    """
    names = list(graph.nodes)
    loops = {key for key in graph.edges if key[0] == key[1]}
    if labels is None:
        labels = {key: edge_lines(edge) for key, edge in graph.edges.items()}
    layered = order(names, [key for key in graph.edges if key not in loops])
    sides = _side_counts(layered)
    slots = [
        _slot(graph, item, labels, loops, sides.get(index, 0))
        for index, item in enumerate(layered.items)
    ]
    _place_vertically(layered, slots)
    lefts, widths = _place_horizontally(layered, slots)
    for item, slot in zip(layered.items, slots, strict=True):
        if slot.box is not None:  # centred in its column, from its band's top
            middle = lefts[item.column] + widths[item.column] / 2
            slot.box = Rect(
                middle - slot.box.width / 2, slot.top + slot.box.y, slot.box.width, slot.box.height
            )
    placed = _Placed(layered, slots, lefts, widths, _ports(layered, slots))
    nodes = {
        item.name: placed.box(index)
        for index, item in enumerate(layered.items)
        if item.kind is ItemKind.NODE
    }
    edges: dict[tuple[str, str], EdgePlace] = {}
    for chain in layered.chains:
        label = next(i for i in chain.items if layered.items[i].kind is ItemKind.LABEL)
        edges[chain.edge] = EdgePlace(
            chain.edge[0],
            chain.edge[1],
            _route(placed, chain),
            placed.box(label),
            labels[chain.edge],
        )
    for key in loops:
        edges[key] = _loop(key, nodes[key[0]], labels[key])
    return GraphLayout(
        width=lefts[-1] + widths[-1] if lefts else 0.0,
        height=max((slot.top + slot.height for slot in slots), default=0.0),
        nodes=FrozenMap({name: nodes[name] for name in names}),
        edges=FrozenMap({key: edges[key] for key in graph.edges}),
    )


def _side_counts(layered: Ordered) -> dict[int, int]:
    """For each node item, the edges that meet its busier side."""
    left: dict[int, int] = {}
    right: dict[int, int] = {}
    for chain in layered.chains:
        right[chain.items[0]] = right.get(chain.items[0], 0) + 1
        left[chain.items[-1]] = left.get(chain.items[-1], 0) + 1
    return {item: max(left.get(item, 0), right.get(item, 0)) for item in {*left, *right}}


def _slot(
    graph: Topology,
    item: Item,
    labels: Mapping[tuple[str, str], tuple[str, ...]],
    loops: set[tuple[str, str]],
    side_edges: int,
) -> _Slot:
    if item.kind is ItemKind.BEND:
        return _Slot(0.0, _BEND_HEIGHT, _BEND_HEIGHT / 2)
    if item.kind is ItemKind.LABEL:
        width, height = label_size(labels[item.edge])
        box = Rect(0.0, 0.0, width, height)
        return _Slot(width, height + 2 * _LINE_UNDER_LABEL, height + _LINE_UNDER_LABEL, box=box)
    caption = _node_caption(graph.nodes[item.name])
    text = max(text_width(item.name, NAME_FONT), text_width(caption, CAPTION_FONT))
    # A box that many edges meet on one side grows, so that their arrows stay apart.
    height = max(NODE_HEIGHT, (side_edges - 1) * _PORT_STEP + 2 * _PORT_STEP)
    box = Rect(0.0, 0.0, max(_MIN_NODE_WIDTH, text + 2 * _NODE_PADDING), height)
    if (item.name, item.name) not in loops:
        return _Slot(box.width, height, height / 2, box=box)
    # A self-loop and its label sit over the box, in the box's band.
    loop_width, loop_height = label_size(labels[item.name, item.name])
    above = loop_height + _LOOP_LABEL_GAP + _LOOP_HEIGHT
    box = Rect(0.0, above, box.width, height)
    return _Slot(max(box.width, loop_width), above + height, above + height / 2, box=box)


def _loop(key: tuple[str, str], box: Rect, lines: tuple[str, ...]) -> EdgePlace:
    """A self-loop: an arch over the middle of its box, its label over the arch."""
    width, height = label_size(lines)
    middle = box.x + box.width / 2
    start, end = (middle - _LOOP_WIDTH / 2, box.y), (middle + _LOOP_WIDTH / 2, box.y)
    top = box.y - _LOOP_HEIGHT - _LOOP_LABEL_GAP - height
    label = Rect(middle - width / 2, top, width, height)
    return EdgePlace(key[0], key[1], (Piece(PieceKind.LOOP, start, end),), label, lines)


def _place_vertically(layered: Ordered, slots: list[_Slot]) -> None:
    """Each band as near its neighbours' mean as the column's order and spacing allow; then
    each part of the graph unlinked to the rest moves up as far as it can (the mean of its own
    neighbours cannot move it, so it would keep the place it started at)."""
    neighbours: list[list[int]] = [[] for _ in slots]
    for chain in layered.chains:
        for a, b in itertools.pairwise(chain.items):
            neighbours[a].append(b)
            neighbours[b].append(a)
    # A label follows the box it points to more than its other neighbour, so that its edge
    # runs straight into the box.
    pulls = [list(linked) for linked in neighbours]
    for chain in layered.chains:
        for position, item in enumerate(chain.items):
            if layered.items[item].kind is ItemKind.LABEL:
                pointed = chain.items[position - 1 if chain.backward else position + 1]
                pulls[item] += [pointed] * (_LABEL_FOLLOWS - 1)
    for column in layered.columns:  # start stacked from the top
        _pack(column, slots, [0.0] * len(column), layered)
    indices = list(range(len(layered.columns)))
    for iteration in range(_ITERATIONS):
        for index in indices if iteration % 2 == 0 else reversed(indices):
            column = layered.columns[index]
            wanted = []
            for item in column:
                linked = pulls[item]
                if linked:
                    mean = sum(slots[n].top + slots[n].anchor for n in linked) / len(linked)
                    wanted.append(mean - slots[item].anchor)
                else:
                    wanted.append(slots[item].top)
            _pack(column, slots, wanted, layered)
    _close_gaps(layered, slots, neighbours)
    top = min((slot.top for slot in slots), default=0.0)
    for slot in slots:
        slot.top -= top


def _close_gaps(layered: Ordered, slots: list[_Slot], neighbours: Sequence[list[int]]) -> None:
    """Move each part of the graph (a set of linked items), top part first, up until one of its
    bands meets a band of another part above it in the same column."""
    part = [-1] * len(slots)
    parts: list[list[int]] = []
    for first in sorted(range(len(slots)), key=lambda item: slots[item].top):
        if part[first] >= 0:
            continue
        part[first] = len(parts)
        found, stack = [first], [first]
        while stack:
            for linked in neighbours[stack.pop()]:
                if part[linked] < 0:
                    part[linked] = part[first]
                    found.append(linked)
                    stack.append(linked)
        parts.append(found)
    above: dict[int, int] = {}  # each item's neighbour above it in its column
    for column in layered.columns:
        for upper, lower in itertools.pairwise(column):
            above[lower] = upper
    for index, members in enumerate(parts):
        room = min(slot.top for slot in slots)  # the topmost part may rise to the top
        room = min(slots[item].top for item in members) - room
        for item in members:
            upper = above.get(item, -1)
            if upper >= 0 and part[upper] != index:
                margins = _MARGIN[layered.items[upper].kind] + _MARGIN[layered.items[item].kind]
                bottom = slots[upper].top + slots[upper].height + margins
                room = min(room, slots[item].top - bottom)
        for item in members:
            slots[item].top -= max(0.0, room)


def _pack(
    column: Sequence[int], slots: list[_Slot], wanted: Sequence[float], layered: Ordered
) -> None:
    """Set the tops of a column's bands nearest (least squares, weighted) to ``wanted`` while
    each stays below the one above it, by pool-adjacent-violators."""
    offsets = []  # each band's least distance from the first band's top
    offset = 0.0
    for position, item in enumerate(column):
        offsets.append(offset)
        if position + 1 < len(column):
            below = layered.items[column[position + 1]].kind
            offset += slots[item].height + _MARGIN[layered.items[item].kind] + _MARGIN[below]
    # Runs of bands that sit tight against each other: [weight, weighted sum, size].
    blocks: list[list[float]] = []
    for position, item in enumerate(column):
        weight = _BEND_WEIGHT if layered.items[item].kind is not ItemKind.NODE else 1.0
        blocks.append([weight, weight * (wanted[position] - offsets[position]), 1])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
            weight_sum, total, size = blocks.pop()
            blocks[-1][0] += weight_sum
            blocks[-1][1] += total
            blocks[-1][2] += size
    position = 0
    for weight_sum, total, size in blocks:
        for _ in range(int(size)):
            slots[column[position]].top = total / weight_sum + offsets[position]
            position += 1


def _place_horizontally(
    layered: Ordered, slots: Sequence[_Slot]
) -> tuple[list[float], list[float]]:
    """Each column's left side and width: as wide as its widest band, the gaps between columns
    as wide as their steepest edge needs."""
    widths = [max((slots[i].width for i in column), default=0.0) for column in layered.columns]
    climbs = [0.0] * len(widths)
    for chain in layered.chains:
        for a, b in itertools.pairwise(chain.items):
            climb = abs(slots[a].top + slots[a].anchor - slots[b].top - slots[b].anchor)
            column = layered.items[a].column
            climbs[column] = max(climbs[column], climb)
    lefts = []
    x = 0.0
    for width, climb in zip(widths, climbs, strict=True):
        lefts.append(x)
        x += width + min(_MAX_GAP, max(_MIN_GAP, climb / _STEEPNESS))
    return lefts, widths


def _ports(layered: Ordered, slots: Sequence[_Slot]) -> dict[tuple[int, tuple[str, str]], float]:
    """Where each edge meets each of its boxes: spread over the side, in the order of the
    neighbours they come from, so that they do not cross at the box."""
    sides: dict[tuple[int, bool], list[tuple[float, tuple[str, str]]]] = {}
    for chain in layered.chains:
        first, last = chain.items[0], chain.items[-1]
        after, before = slots[chain.items[1]], slots[chain.items[-2]]
        sides.setdefault((first, True), []).append((after.top + after.anchor, chain.edge))
        sides.setdefault((last, False), []).append((before.top + before.anchor, chain.edge))
    ports: dict[tuple[int, tuple[str, str]], float] = {}
    for (item, _), ends in sides.items():
        ends.sort()
        box = slots[item].box
        assert box is not None
        middle = box.y + box.height / 2
        for index, (_, edge) in enumerate(ends):
            ports[item, edge] = middle + (index - (len(ends) - 1) / 2) * _PORT_STEP
    return ports


def _route(placed: _Placed, chain: Chain) -> tuple[Piece, ...]:
    """An edge from its left box to its right box: straight through each band, S-curves
    between the columns; turned round when the edge points right to left."""
    items, lefts, widths = placed.layered.items, placed.lefts, placed.widths
    first, last = chain.items[0], chain.items[-1]
    column = items[first].column
    y = placed.ports[first, chain.edge]
    pieces = [
        Piece(PieceKind.LINE, (placed.box(first).right, y), (lefts[column] + widths[column], y))
    ]

    def to(kind: PieceKind, end: Point) -> None:
        start = pieces[-1].end
        if start != end:
            straight = kind is PieceKind.LINE or start[1] == end[1]
            pieces.append(Piece(PieceKind.LINE if straight else kind, start, end))

    for item in chain.items[1:-1]:
        column = items[item].column
        y = placed.anchor(item)
        to(PieceKind.CURVE, (lefts[column], y))
        to(PieceKind.LINE, (lefts[column] + widths[column], y))
    column = items[last].column
    y = placed.ports[last, chain.edge]
    to(PieceKind.CURVE, (lefts[column], y))
    to(PieceKind.LINE, (placed.box(last).x, y))
    pieces = [piece for piece in pieces if piece.start != piece.end]
    if chain.backward:
        return tuple(Piece(p.kind, p.end, p.start) for p in reversed(pieces))
    return tuple(pieces)
