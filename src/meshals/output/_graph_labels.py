"""What every graph format shows alike: Kiali's health colours, node captions, edge labels.

Nodes are services (shaped by kind: gateway, service, unknown peer, Istio pseudo-service) and
coloured by health like Kiali (green healthy, orange degraded, red failing, grey unknown);
edges carry their calls counted once (:meth:`~meshals.aggregate.Edge.combined`): protocols,
requests, the error rates health judges (4xx, 5xx, gRPC apart) and p99 latency. DOT, Mermaid,
SVG and networkx each write them in their own syntax.
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
    """The lines that label an edge: protocols and requests, what its health looks at, p99.

    The middle line shows each error rate a health rule judges, apart, as Kiali does: 4xx,
    5xx (with resets) and gRPC errors, those that are not zero; ``0.0% err`` with none; for
    TCP, which no rule judges by default, the failed connections' rate.

    >>> from meshals.model import MeshProtocol
    >>> from meshals._values import FrozenMap
    >>> edge_summary(TrafficStats(requests=4, protocols=FrozenMap({MeshProtocol.HTTP: 4}),
    ...                           response_codes=FrozenMap({200: 3, 404: 1})))
    ('HTTP 4 req', '4xx 25.0%', 'p99 -')
    """
    protocols = ",".join(protocol.value for protocol in stats.protocols) or "-"
    noun = "req" if stats.http_requests else "conn"
    return (
        f"{protocols} {stats.requests} {noun}",
        _errors(stats),
        f"p99 {_milliseconds(stats.p99)}",
    )


def _errors(stats: TrafficStats) -> str:
    if not stats.requests:
        return "-"
    rates = (
        ("4xx", stats.errors_4xx, stats.error_rate_4xx),
        ("5xx", stats.errors_5xx, stats.error_rate_5xx),
        ("gRPC err", stats.grpc_errors, stats.grpc_error_rate),
    )
    shown = [f"{name} {rate:.1%}" for name, errors, rate in rates if errors and rate is not None]
    if shown:
        return ", ".join(shown)
    return f"{stats.errors / stats.requests:.1%} err"


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
