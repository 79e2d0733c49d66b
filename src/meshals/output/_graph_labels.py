"""What every graph format shows alike: Kiali's health colours, node captions, edge labels.

Nodes are services (shaped by kind: gateway, service, unknown peer, Istio pseudo-service) and
coloured by health like Kiali (green healthy, orange degraded, red failing, grey unknown);
edges carry their calls counted once (:meth:`~meshals.aggregate.Edge.combined`): protocols,
requests, the error rates health judges (4xx, 5xx, gRPC apart) and p99 latency, then how they
were secured (:attr:`~meshals.aggregate.Edge.security`): ``mTLS 100%`` with a lock when every
call of known TLS was mutual TLS, the share for a mix; an edge with plaintext calls into a
workload with a proxy is drawn dashed. DOT, Mermaid, SVG and networkx each write them in their
own syntax.
"""

from __future__ import annotations

from typing import Final

from meshals.aggregate._health import HealthStatus, TopologyHealth, topology_health
from meshals.aggregate._security import SecurityStats
from meshals.aggregate._topology import Edge, NodeKind, ServiceNode, Topology
from meshals.aggregate._traffic import TrafficStats
from meshals.model._metrics import TlsMode

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


#: Opens an edge's security line when every call of known TLS was mutual TLS: meshals' own
#: SVG draws a padlock in its place (its width is reserved as one wide character); the text
#: formats leave it out (:func:`plain`), as a font may have no such glyph.
LOCK: Final = "\N{LOCK}"


def security_line(security: SecurityStats) -> str | None:
    """The label line of an edge's TLS: ``mTLS 100%`` (after :data:`LOCK`), ``mTLS 60%``,
    ``TLS 100%`` (one-way); None when no call was over TLS or none's TLS is known.

    Shares are rounded down, so only all calls show 100%.

    >>> from meshals._values import FrozenMap
    >>> from meshals.model import TlsMode
    >>> security_line(SecurityStats(server_requests=FrozenMap({TlsMode.MTLS: 199,
    ...                                                       TlsMode.NONE: 1})))
    'mTLS 99%'
    """
    known = security.known
    mutual = security.requests(TlsMode.MTLS) + security.connections(TlsMode.MTLS)
    one_way = security.requests(TlsMode.TLS) + security.connections(TlsMode.TLS)
    if mutual:
        share = mutual * 100 // known
        return f"{LOCK} mTLS 100%" if mutual == known else f"mTLS {share}%"
    if one_way:
        return f"TLS {one_way * 100 // known}%"
    return None


def edge_lines(edge: Edge) -> tuple[str, ...]:
    """Every line of an edge's label: :func:`edge_summary`, then its :func:`security_line`."""
    security = security_line(edge.security)
    return edge_summary(edge.combined()) + (() if security is None else (security,))


def plain(line: str) -> str:
    """A label line without the :data:`LOCK` placeholder (for DOT and Mermaid)."""
    return line.removeprefix(f"{LOCK} ")


def plaintext_into_meshed(edge: Edge) -> bool:
    """Whether a workload with a proxy took plaintext calls over the edge (drawn dashed)."""
    return edge.security.plaintext_into_meshed > 0


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
