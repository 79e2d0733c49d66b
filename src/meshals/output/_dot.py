"""The service graph in Graphviz' DOT language: :func:`to_dot`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from meshals.aggregate._health import TopologyHealth
from meshals.aggregate._topology import NodeKind, Topology

from ._graph_labels import (
    HEALTH_COLOURS,
    _edge_status,
    _health,
    _node_caption,
    _node_status,
    edge_lines,
    plain,
    plaintext_into_meshed,
)

__all__ = ["to_dot"]

_DOT_SHAPES: Final = {
    NodeKind.SERVICE: "box",
    NodeKind.GATEWAY: "hexagon",
    NodeKind.UNKNOWN: "ellipse",
    NodeKind.PSEUDO: "note",
}


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
        A ``digraph`` with one node per service and one edge per (source, destination);
        an edge with plaintext calls into a workload with a proxy is dashed.

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
        label = _dot_label(plain(line) for line in edge_lines(edge))
        dashed = ", style=dashed" if plaintext_into_meshed(edge) else ""
        lines.append(
            f"  {_dot_id(edge.source)} -> {_dot_id(edge.destination)}"
            f" [label={label}, color={_dot_string(colour)}, fontcolor={_dot_string(colour)}"
            f"{dashed}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
