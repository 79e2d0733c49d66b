"""The service graph as an SVG picture: Graphviz' when installed, else meshals' own layout.

SVG comes from Graphviz' ``dot`` when it is installed (:func:`graphviz_svg` of
:func:`~meshals.output.to_dot`), else from :func:`builtin_svg`, a small layered left-to-right
layout of meshals' own, so a picture can always be written. :func:`to_svg` picks; running
``dot`` is the only thing here that leaves the process.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Final, Literal

import attrs

from meshals._errors import MeshalsError
from meshals.aggregate._health import HealthStatus, TopologyHealth
from meshals.aggregate._topology import Edge, NodeKind, ServiceNode, Topology

from ._dot import to_dot
from ._graph_labels import (
    HEALTH_COLOURS,
    _edge_status,
    _health,
    _node_caption,
    _node_status,
    edge_summary,
)
from ._markup import escape, quoteattr

__all__ = ["GraphRenderError", "builtin_svg", "graphviz_svg", "to_svg"]

SvgRenderer = Literal["auto", "graphviz", "builtin"]

_DOT_TIMEOUT_S: Final = 60


class GraphRenderError(MeshalsError, RuntimeError):
    """Graphviz is missing (when asked for by name) or failed to render a graph."""


def graphviz_svg(dot_source: str, *, dot: str | None = None) -> str:
    """Render DOT to SVG with Graphviz' ``dot`` program.

    Args:
        dot_source: the DOT text (e.g. :func:`to_dot`).
        dot: the program to run; default ``dot`` on the PATH.

    Returns:
        The SVG document.

    Raises:
        GraphRenderError: ``dot`` is not installed, fails or takes longer than a minute.
    """
    program = dot or shutil.which("dot")
    if program is None:
        raise GraphRenderError(
            "Graphviz' dot is not installed (apt-get install graphviz, brew install graphviz)"
        )
    try:
        done = subprocess.run(
            [program, "-Tsvg"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            timeout=_DOT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphRenderError(f"could not run {program}: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip()
        raise GraphRenderError(f"{program} failed (exit status {done.returncode}): {reason}")
    return done.stdout.decode("utf-8")


def to_svg(
    graph: Topology,
    *,
    health: TopologyHealth | None = None,
    renderer: SvgRenderer = "auto",
) -> str:
    """The graph as an SVG picture.

    Args:
        graph: the service graph.
        health: its health (default Kiali's thresholds).
        renderer: ``"graphviz"`` (``dot`` must be installed), ``"builtin"``
            (:func:`builtin_svg`), or ``"auto"``: Graphviz when ``dot`` is on the PATH.

    Returns:
        The SVG document.

    Raises:
        GraphRenderError: Graphviz was asked for and is missing or failed.
    """
    if renderer == "builtin" or (renderer == "auto" and shutil.which("dot") is None):
        return builtin_svg(graph, health=health)
    return graphviz_svg(to_dot(graph, health=health))


# The builtin layout: layers left to right by longest path from the graph's sources.
_CHAR_WIDTH: Final = 7.2  # px per character at 12px Helvetica, roughly
_NODE_HEIGHT: Final = 44.0
_NODE_PADDING: Final = 16.0
_LAYER_GAP: Final = 190.0
_ROW_GAP: Final = 36.0
_MARGIN: Final = 24.0


@attrs.frozen
class _Box:
    x: float  # left
    y: float  # top
    width: float
    layer: int

    @property
    def middle_y(self) -> float:
        return self.y + _NODE_HEIGHT / 2


def _layers(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layers after dropping the edges that close cycles (found depth-first)."""
    successors: dict[str, list[str]] = {name: [] for name in names}
    indegree = dict.fromkeys(names, 0)
    for source, destination in edges:
        if source != destination:
            successors[source].append(destination)
            indegree[destination] += 1
    # Depth-first from the sources first (then anything left, for cycles without a source):
    # an edge to a node still on the stack closes a cycle and does not constrain layers.
    order = [name for name in names if indegree[name] == 0] + list(names)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    forward: dict[str, list[str]] = {name: [] for name in names}
    for root in order:
        if root in state:
            continue
        stack = [(root, iter(successors[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                continue  # a back edge
            else:
                forward[node].append(child)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(successors[child])))
    layer = dict.fromkeys(names, 0)
    for node in _topological(names, forward):
        for child in forward[node]:
            layer[child] = max(layer[child], layer[node] + 1)
    return layer


def _topological(names: Sequence[str], forward: Mapping[str, list[str]]) -> list[str]:
    indegree = dict.fromkeys(names, 0)
    for children in forward.values():
        for child in children:
            indegree[child] += 1
    ready = [name for name in names if indegree[name] == 0]
    result = []
    while ready:
        node = ready.pop(0)
        result.append(node)
        for child in forward[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return result


def _layout(graph: Topology) -> dict[str, _Box]:
    names = list(graph.nodes)
    edges = list(graph.edges)
    layer_of = _layers(names, edges)
    count = max(layer_of.values(), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(count)]
    for name in names:
        rows[layer_of[name]].append(name)
    # One barycentre pass: order each layer by the mean row of its callers in the layer before.
    position = {name: index for row in rows for index, name in enumerate(row)}
    for row in rows[1:]:

        def weight(name: str) -> float:
            callers = [position[s] for s, d in edges if d == name and layer_of[s] < layer_of[d]]
            return sum(callers) / len(callers) if callers else math.inf

        row.sort(key=lambda name: (weight(name), name))
        position.update({name: index for index, name in enumerate(row)})
    width = {name: _node_width(name, graph.nodes[name]) for name in names}
    tallest = max((len(row) for row in rows), default=0)
    boxes: dict[str, _Box] = {}
    x = _MARGIN
    for index, row in enumerate(rows):
        column = max(width[name] for name in row)
        top = _MARGIN + (tallest - len(row)) * (_NODE_HEIGHT + _ROW_GAP) / 2
        for slot, name in enumerate(row):
            left = x + (column - width[name]) / 2
            boxes[name] = _Box(left, top + slot * (_NODE_HEIGHT + _ROW_GAP), width[name], index)
        x += column + _LAYER_GAP
    return boxes


def _node_width(name: str, node: ServiceNode) -> float:
    longest = max(len(name), len(_node_caption(node)))
    return max(90.0, longest * _CHAR_WIDTH + 2 * _NODE_PADDING)


def _text(x: float, y: float, text: str, **attributes: str) -> str:
    extra = "".join(
        f" {key.replace('_', '-')}={quoteattr(value)}" for key, value in attributes.items()
    )
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def builtin_svg(graph: Topology, *, health: TopologyHealth | None = None) -> str:
    """The graph as SVG, laid out by meshals itself (no Graphviz needed).

    Services are placed in layers left to right, each one layer after the furthest caller
    (cycles broken depth-first); within a layer by their callers' positions. Edges are curves
    with the same labels as :func:`to_dot`; an edge back to an earlier layer arcs below.

    Args:
        graph: the service graph.
        health: its health (default Kiali's thresholds).

    Returns:
        A standalone SVG document with one ``<g class="node">`` per service and one
        ``<g class="edge">`` per edge, each with a ``<title>`` naming it.
    """
    health = _health(graph, health)
    boxes = _layout(graph)
    right = max((box.x + box.width for box in boxes.values()), default=0.0) + _MARGIN
    bottom = max((box.y + _NODE_HEIGHT for box in boxes.values()), default=0.0) + _MARGIN + 40
    width, height = max(right, 2 * _MARGIN), max(bottom, 2 * _MARGIN)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        "<defs>",
        *(
            f'<marker id="arrow-{status.value}" viewBox="0 0 10 10" refX="10" refY="5"'
            f' markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>'
            for status, colour in HEALTH_COLOURS.items()
        ),
        "</defs>",
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    for edge in graph.edges.values():
        parts.append(_svg_edge(edge, boxes, _edge_status(health, edge)))
    for name, node in graph.nodes.items():
        parts.append(_svg_node(name, node, boxes[name], _node_status(health, name)))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _svg_node(name: str, node: ServiceNode, box: _Box, status: HealthStatus) -> str:
    colour = HEALTH_COLOURS[status]
    dashed = ' stroke-dasharray="5,3"' if node.kind in (NodeKind.UNKNOWN, NodeKind.PSEUDO) else ""
    radius = _NODE_HEIGHT / 2 if node.kind is NodeKind.UNKNOWN else 8
    caption = _node_caption(node)
    centre = box.x + box.width / 2
    name_y = box.middle_y + (0 if caption else 4)
    lines = [
        f'<g class="node" data-name={quoteattr(name)} data-health="{status.value}">',
        f"<title>{escape(name)}</title>",
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{_NODE_HEIGHT}"'
        f' rx="{radius:.0f}" fill="#ffffff" stroke="{colour}" stroke-width="2"{dashed}/>',
        _text(centre, name_y, name, text_anchor="middle", font_size="12"),
    ]
    if caption:
        lines.append(
            _text(
                centre,
                box.middle_y + 14,
                caption,
                text_anchor="middle",
                font_size="10",
                fill="#6a6e73",
            )
        )
    lines.append("</g>")
    return "\n".join(lines)


def _bezier_point(points: tuple[tuple[float, float], ...], t: float) -> tuple[float, float]:
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = points
    u = 1 - t
    weights = (u**3, 3 * u * u * t, 3 * u * t * t, t**3)
    return (
        sum(w * x for w, x in zip(weights, (ax, bx, cx, dx), strict=True)),
        sum(w * y for w, y in zip(weights, (ay, by, cy, dy), strict=True)),
    )


def _curve(*points: tuple[float, float]) -> str:
    """An SVG cubic Bezier path: start, two control points, end."""
    start, *rest = (f"{x:.1f} {y:.1f}" for x, y in points)
    return f"M {start} C {', '.join(rest)}"


def _svg_edge(edge: Edge, boxes: Mapping[str, _Box], status: HealthStatus) -> str:
    colour = HEALTH_COLOURS[status]
    start, end = boxes[edge.source], boxes[edge.destination]
    if edge.source == edge.destination:  # a loop over the top of the box
        x0, y0 = start.x + start.width * 0.35, start.y
        x1 = start.x + start.width * 0.65
        path = _curve((x0, y0), (x0, y0 - 40), (x1, y0 - 40), (x1, y0))
        label_x, label_y = start.x + start.width / 2, y0 - 34
    elif end.layer > start.layer:  # forward: right side to left side
        x0, y0 = start.x + start.width, start.middle_y
        x1, y1 = end.x, end.middle_y
        bend = (x1 - x0) / 2
        points = ((x0, y0), (x0 + bend, y0), (x1 - bend, y1), (x1, y1))
        path = _curve(*points)
        # Near the callee, where the edges of a fan-out are a row apart: labels do not overlap.
        label_x, label_y = _bezier_point(points, 0.72)
        label_y -= 14
    else:  # back or within a layer: bottom to bottom, arcing below
        x0, y0 = start.x + start.width / 2, start.y + _NODE_HEIGHT
        x1, y1 = end.x + end.width / 2, end.y + _NODE_HEIGHT
        low = max(y0, y1) + 40
        path = _curve((x0, y0), (x0, low), (x1, low), (x1, y1))
        label_x, label_y = (x0 + x1) / 2, low - 6
    lines = [
        f'<g class="edge" data-source={quoteattr(edge.source)}'
        f" data-destination={quoteattr(edge.destination)}"
        f' data-health="{status.value}">',
        f"<title>{escape(edge.source)} -&gt; {escape(edge.destination)}</title>",
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5"'
        f' marker-end="url(#arrow-{status.value})"/>',
    ]
    for offset, line in enumerate(edge_summary(edge.combined())):
        lines.append(
            _text(
                label_x,
                label_y + offset * 11,
                line,
                text_anchor="middle",
                font_size="9",
                fill=colour,
                stroke="#ffffff",
                stroke_width="3",
                paint_order="stroke",
            )
        )
    lines.append("</g>")
    return "\n".join(lines)
