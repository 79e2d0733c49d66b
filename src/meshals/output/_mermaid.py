"""The service graph as a Mermaid flowchart: :func:`to_mermaid`."""

from __future__ import annotations

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

__all__ = ["to_mermaid"]

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
        label = "<br/>".join(_mermaid_text(plain(line)) for line in edge_lines(edge))
        # A dotted link: plaintext calls into a workload with a proxy.
        arrow = "-.->" if plaintext_into_meshed(edge) else "-->"
        lines.append(f'  {ids[edge.source]} {arrow}|"{label}"| {ids[edge.destination]}')
    used = {_node_status(health, name) for name in graph.nodes}
    for status, colour in HEALTH_COLOURS.items():
        if status in used:
            lines.append(f"  classDef {status.value} stroke:{colour},stroke-width:2px")
    for index, edge in enumerate(graph.edges.values()):
        colour = HEALTH_COLOURS[_edge_status(health, edge)]
        lines.append(f"  linkStyle {index} stroke:{colour}")
    return "\n".join(lines) + "\n" if len(lines) > 1 else "flowchart LR\n"
