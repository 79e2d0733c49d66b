"""The service graph as a ``networkx.DiGraph``: :func:`to_networkx` (the ``graph`` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshals._optional import require
from meshals.aggregate._health import TopologyHealth
from meshals.aggregate._topology import Topology

from ._graph_labels import (
    _edge_status,
    _health,
    _node_status,
)

if TYPE_CHECKING:
    import networkx

__all__ = ["to_networkx"]


def to_networkx(graph: Topology, *, health: TopologyHealth | None = None) -> networkx.DiGraph[str]:
    """The graph as a ``networkx.DiGraph`` (the ``graph`` extra).

    Node attributes: ``kind``, ``instances``, ``namespaces``, ``reporter_roles`` (values),
    ``health``. Edge attributes: ``requests``, ``errors``, ``error_rate``, ``p50_ns``,
    ``p99_ns``, ``protocols`` (the combined calls), ``client_requests``,
    ``server_requests``, ``health``, how the calls were secured (``mtls_share``,
    ``client_principals`` and ``server_principals`` as ``{id: calls}``,
    ``plaintext_into_meshed``), and ``edge`` (the :class:`~meshals.aggregate.Edge`).

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
            mtls_share=edge.security.mtls_share,
            client_principals=dict(edge.security.client_principals),
            server_principals=dict(edge.security.server_principals),
            plaintext_into_meshed=edge.security.plaintext_into_meshed,
            edge=edge,
        )
    return result
