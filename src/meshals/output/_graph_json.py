"""The service graph as JSON for other tools: nodes and edges with their statistics and health.

Shaped like Kiali's graph JSON (``{"nodes": [...], "edges": [...]}``), with meshals' own field
names, the ones ``meshals stats`` records use:

- every node (a service) has its ``id`` (its name, unique in a graph), ``name``, ``kind``, the
  ``instances``, ``namespaces`` and ``reporter_roles`` seen, its ``health`` (the worse of its
  inbound and outbound calls') and the statistics of the calls it received (``inbound``) and
  made (``outbound``), each counted once;
- every edge has its ``id`` (``"source -> destination"``), the ``source`` and ``destination``
  node ids, and the numbers of a ``stats --by edge`` record: protocols, requests, errors and
  the 4xx, 5xx and gRPC error rates health judges, the rate over the analysed period, latency
  quantiles in ns, bytes, the reporting sides and health, and how the calls were secured:
  requests and connections by TLS mode as the server side logged them (``unknown_tls_*``:
  seen only client-side), the ``mtls_share``, the client and server SPIFFE principals with
  their calls, and ``plaintext_into_meshed``;
- the document carries the analysed ``period`` rates are over and the health ``thresholds``.

Nodes come in name order, edges in (source, destination) order, so equal graphs give equal
documents.
"""

from __future__ import annotations

from meshals.aggregate._health import DEFAULT_THRESHOLDS, HealthThresholds, topology_health
from meshals.aggregate._topology import Topology
from meshals.aggregate._traffic import TrafficStats

from ._records import edge_records, stats_values

__all__ = ["graph_json"]


def graph_json(
    graph: Topology, *, thresholds: HealthThresholds = DEFAULT_THRESHOLDS
) -> dict[str, object]:
    """The service graph as a JSON-ready dict: ``period``, ``thresholds``, ``nodes``, ``edges``.

    ``meshals graph --format json`` writes it; the module docstring lists the fields, and the
    documentation publishes its JSON Schema.

    Args:
        graph: the service graph.
        thresholds: the health rules' limits (Kiali's by default).

    Returns:
        A new dict of plain JSON values.

    >>> graph_json(Topology())["nodes"]
    []
    """
    health = topology_health(graph, thresholds)
    inbound: dict[str, list[TrafficStats]] = {name: [] for name in graph.nodes}
    outbound: dict[str, list[TrafficStats]] = {name: [] for name in graph.nodes}
    for (source, destination), edge in graph.edges.items():
        stats = edge.combined()
        outbound[source].append(stats)
        inbound[destination].append(stats)
    nodes = []
    for name, node in graph.nodes.items():
        node_health = health.nodes[name]
        calls_in = TrafficStats.merge_all(inbound[name])
        calls_out = TrafficStats.merge_all(outbound[name])
        nodes.append(
            {
                "id": name,
                **node.to_dict(),
                "health": node_health.status.value,
                "inbound": {
                    **stats_values(calls_in, graph.period.rate(calls_in.requests)),
                    "health": node_health.inbound.status.value,
                },
                "outbound": {
                    **stats_values(calls_out, graph.period.rate(calls_out.requests)),
                    "health": node_health.outbound.status.value,
                },
            }
        )
    edges = []
    for record in edge_records(graph):
        del record["window_start"], record["window_start_ns"]  # a graph has no windows
        key = (str(record["source"]), str(record["destination"]))
        record["health"] = health.edges[key].status.value  # under these thresholds
        edges.append({"id": f"{key[0]} -> {key[1]}", **record})
    return {
        "period": graph.period.to_dict(),
        "thresholds": thresholds.to_dict(),
        "nodes": nodes,
        "edges": edges,
    }
