"""The service graph as Graphviz DOT, Mermaid, SVG and a ``networkx`` graph.

Nodes are services (shaped by kind: gateway, service, unknown peer, Istio pseudo-service) and
coloured by health like Kiali (green healthy, orange degraded, red failing, grey unknown);
edges carry their calls counted once (:meth:`~meshals.aggregate.Edge.combined`): protocols,
requests, error rate and p99 latency.

SVG comes from Graphviz' ``dot`` when it is installed, else from :func:`builtin_svg`, a small
layered left-to-right layout of meshals' own, so a picture can always be written.
:func:`to_svg` picks; running ``dot`` is the only thing here that leaves the process.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal
from xml.sax.saxutils import escape, quoteattr

import attrs

from meshals._errors import MeshalsError
from meshals._optional import require
from meshals.aggregate._health import HealthStatus, TopologyHealth, topology_health
from meshals.aggregate._topology import Edge, NodeKind, ServiceNode, Topology
from meshals.aggregate._traffic import TrafficStats

if TYPE_CHECKING:
    import networkx

__all__ = [
    "GraphRenderError",
    "builtin_svg",
    "graphviz_svg",
    "to_dot",
    "to_mermaid",
    "to_networkx",
    "to_svg",
]

SvgRenderer = Literal["auto", "graphviz", "builtin"]

#: Kiali's palette.
HEALTH_COLOURS: Final = {
    HealthStatus.HEALTHY: "#3f9c35",
    HealthStatus.DEGRADED: "#f0ab00",
    HealthStatus.FAILING: "#c9190b",
    HealthStatus.UNKNOWN: "#8a8d90",
}
_DOT_SHAPES: Final = {
    NodeKind.SERVICE: "box",
    NodeKind.GATEWAY: "hexagon",
    NodeKind.UNKNOWN: "ellipse",
    NodeKind.PSEUDO: "note",
}
_NS_PER_MS: Final = 1_000_000
_DOT_TIMEOUT_S: Final = 60


class GraphRenderError(MeshalsError, RuntimeError):
    """Graphviz is missing (when asked for by name) or failed to render a graph."""


# --- labels --------------------------------------------------------------------------------


def _milliseconds(ns: int | None) -> str:
    if ns is None:
        return "-"
    return f"{ns / _NS_PER_MS:.2f} ms"


def edge_summary(stats: TrafficStats) -> tuple[str, ...]:
    """The lines that label an edge: protocols and requests, errors, p99 latency.

    >>> from meshals.model import MeshProtocol
    >>> from meshals._values import FrozenMap
    >>> edge_summary(TrafficStats(requests=4, errors=1,
    ...                           protocols=FrozenMap({MeshProtocol.HTTP: 4})))
    ('HTTP 4 req', '25.0% err', 'p99 -')
    """
    protocols = ",".join(protocol.value for protocol in stats.protocols) or "-"
    noun = "req" if any(p.value != "TCP" for p in stats.protocols) else "conn"
    error_rate = stats.error_rate
    errors = "-" if error_rate is None else f"{error_rate:.1%} err"
    return (f"{protocols} {stats.requests} {noun}", errors, f"p99 {_milliseconds(stats.p99)}")


def _node_caption(node: ServiceNode) -> str:
    return "" if node.kind is NodeKind.SERVICE else node.kind.value


def _health(graph: Topology, health: TopologyHealth | None) -> TopologyHealth:
    return topology_health(graph) if health is None else health


def _node_status(health: TopologyHealth, name: str) -> HealthStatus:
    node = health.nodes.get(name)
    return HealthStatus.UNKNOWN if node is None else node.status


def _edge_status(health: TopologyHealth, edge: Edge) -> HealthStatus:
    found = health.edges.get((edge.source, edge.destination))
    return HealthStatus.UNKNOWN if found is None else found.status


# --- DOT -----------------------------------------------------------------------------------


def _dot_id(name: str) -> str:
    """A node name as a DOT quoted ID: there only ``\\"`` is an escape, a backslash is literal.

    A backslash before a quote or at the end would run into the escape; only there is it
    doubled (so such a name reads back with two backslashes).
    """
    escaped = re.sub(r'\\(?=$|")', r"\\\\", name).replace('"', '\\"')
    return f'"{escaped}"'


def _dot_string(text: str) -> str:
    # A DOT escString (labels): the backslash is an escape character, the quote is escaped.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: Iterable[str]) -> str:
    # Each line escaped on its own, then joined with DOT's centred line break.
    return '"' + "\\n".join(_dot_string(line)[1:-1] for line in lines if line) + '"'


def to_dot(graph: Topology, *, health: TopologyHealth | None = None) -> str:
    """The graph in Graphviz' DOT language, left to right.

    Args:
        graph: the service graph.
        health: its health (default :func:`~meshals.aggregate.topology_health` with Kiali's
        thresholds).

    Returns:
        A ``digraph`` with one node per service and one edge per (source, destination).

    >>> print(to_dot(Topology()))
    digraph meshals {
      rankdir=LR;
      node [fontname="Helvetica", fontsize=11, style="rounded,filled", fillcolor="#ffffff"];
      edge [fontname="Helvetica", fontsize=9];
    }
    """
    health = _health(graph, health)
    lines = [
        "digraph meshals {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11, style="rounded,filled", fillcolor="#ffffff"];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for name, node in graph.nodes.items():
        colour = HEALTH_COLOURS[_node_status(health, name)]
        dashed = ",dashed" if node.kind in (NodeKind.UNKNOWN, NodeKind.PSEUDO) else ""
        lines.append(
            f"  {_dot_id(name)} [label={_dot_label((name, _node_caption(node)))},"
            f" shape={_DOT_SHAPES[node.kind]}, color={_dot_string(colour)},"
            f' style="rounded,filled{dashed}", penwidth=2];'
        )
    for edge in graph.edges.values():
        colour = HEALTH_COLOURS[_edge_status(health, edge)]
        lines.append(
            f"  {_dot_id(edge.source)} -> {_dot_id(edge.destination)}"
            f" [label={_dot_label(edge_summary(edge.combined()))},"
            f" color={_dot_string(colour)}, fontcolor={_dot_string(colour)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid -------------------------------------------------------------------------------

_MERMAID_SHAPES: Final = {
    NodeKind.SERVICE: ("(", ")"),
    NodeKind.GATEWAY: ("{{", "}}"),
    NodeKind.UNKNOWN: ("([", "])"),
    NodeKind.PSEUDO: ("[/", "/]"),
}


def _mermaid_text(text: str) -> str:
    # Inside "...", Mermaid reads HTML entities: the quote and the angle brackets need them.
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def to_mermaid(graph: Topology, *, health: TopologyHealth | None = None) -> str:
    """The graph as a Mermaid flowchart, left to right.

    Node ids are ``n0``, ``n1``... in the graph's node order; the service names are labels,
    so any name is safe. Health is a ``class`` per node and a ``linkStyle`` per edge.

    Args:
        graph: the service graph.
        health: its health (default Kiali's thresholds).

    Returns:
        The flowchart text.

    >>> print(to_mermaid(Topology()), end="")
    flowchart LR
    """
    health = _health(graph, health)
    ids = {name: f"n{index}" for index, name in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for name, node in graph.nodes.items():
        opening, closing = _MERMAID_SHAPES[node.kind]
        caption = _node_caption(node)
        label = _mermaid_text(name) + (f"<br/><i>{caption}</i>" if caption else "")
        status = _node_status(health, name)
        lines.append(f'  {ids[name]}{opening}"{label}"{closing}:::{status.value}')
    for edge in graph.edges.values():
        label = "<br/>".join(_mermaid_text(line) for line in edge_summary(edge.combined()))
        lines.append(f'  {ids[edge.source]} -->|"{label}"| {ids[edge.destination]}')
    used = {_node_status(health, name) for name in graph.nodes}
    for status, colour in HEALTH_COLOURS.items():
        if status in used:
            lines.append(f"  classDef {status.value} stroke:{colour},stroke-width:2px")
    for index, edge in enumerate(graph.edges.values()):
        colour = HEALTH_COLOURS[_edge_status(health, edge)]
        lines.append(f"  linkStyle {index} stroke:{colour}")
    return "\n".join(lines) + "\n" if len(lines) > 1 else "flowchart LR\n"


# --- networkx ------------------------------------------------------------------------------


def to_networkx(graph: Topology, *, health: TopologyHealth | None = None) -> networkx.DiGraph[str]:
    """The graph as a ``networkx.DiGraph`` (the ``graph`` extra).

    Node attributes: ``kind``, ``instances``, ``namespaces``, ``reporter_roles`` (values),
    ``health``. Edge attributes: ``requests``, ``errors``, ``error_rate``, ``p50_ns``,
    ``p99_ns``, ``protocols`` (the combined calls), ``client_requests``,
    ``server_requests``, ``health``, and ``edge`` (the :class:`~meshals.aggregate.Edge`).

    Raises:
        MissingDependencyError: networkx is not installed.
    """
    require("networkx", extra="graph", feature="to_networkx()")
    import networkx

    health = _health(graph, health)
    result: networkx.DiGraph[str] = networkx.DiGraph()
    for name, node in graph.nodes.items():
        result.add_node(
            name,
            kind=node.kind.value,
            instances=node.instances,
            namespaces=node.namespaces,
            reporter_roles=tuple(role.value for role in node.reporter_roles),
            health=_node_status(health, name).value,
        )
    for edge in graph.edges.values():
        combined = edge.combined()
        result.add_edge(
            edge.source,
            edge.destination,
            requests=combined.requests,
            errors=combined.errors,
            error_rate=combined.error_rate,
            p50_ns=combined.p50,
            p99_ns=combined.p99,
            protocols=tuple(protocol.value for protocol in combined.protocols),
            client_requests=edge.client.requests,
            server_requests=edge.server.requests,
            health=_edge_status(health, edge).value,
            edge=edge,
        )
    return result


# --- SVG -----------------------------------------------------------------------------------


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
