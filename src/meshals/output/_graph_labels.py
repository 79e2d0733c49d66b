"""What every graph format shows alike: Kiali's health colours, node captions, edge labels.

Nodes are services (shaped by kind: gateway, service, unknown peer, Istio pseudo-service) and
coloured by health like Kiali (green healthy, orange degraded, red failing, grey unknown);
edges carry their calls counted once (:meth:`~meshals.aggregate.Edge.combined`): protocols,
requests, error rate and p99 latency. DOT, Mermaid, SVG and networkx each write them in their
own syntax.
"""

from __future__ import annotations

from typing import Final

from meshals.aggregate._health import HealthStatus, TopologyHealth, topology_health
from meshals.aggregate._topology import Edge, NodeKind, ServiceNode, Topology
from meshals.aggregate._traffic import TrafficStats

__all__: list[str] = []

#: Kiali's palette.
HEALTH_COLOURS: Final = {
    HealthStatus.HEALTHY: "#3f9c35",
    HealthStatus.DEGRADED: "#f0ab00",
    HealthStatus.FAILING: "#c9190b",
    HealthStatus.UNKNOWN: "#8a8d90",
}
_NS_PER_MS: Final = 1_000_000


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
