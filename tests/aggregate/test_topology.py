"""The service graph: node kinds, edges by side, merges, and the real Envoy recordings."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import meshals
from meshals import AggregateError, Role
from meshals._values import FrozenMap
from meshals.aggregate import _topology
from meshals.aggregate._security import SecurityStats
from meshals.aggregate._stats import ReportedTraffic, merge
from meshals.aggregate._topology import (
    Edge,
    NodeKind,
    ServiceNode,
    Topology,
    TopologyAccumulator,
    topology,
)
from meshals.aggregate._traffic import TrafficStats, code_class
from meshals.model import ResponseFlag
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    ServiceMeshMetric,
    TlsMode,
)
from meshals.model._service import UNKNOWN, ServiceMetaInfo
from meshals.resolve._resolvers import StaticResolver

CLIENT = DetectPoint.CLIENT
SERVER = DetectPoint.SERVER
MS = 1_000_000
T0 = 1_704_207_840_000_000_000


def call(
    side: DetectPoint,
    *,
    source: ServiceMetaInfo,
    destination: ServiceMetaInfo,
    role: Role = Role.SIDECAR,
    protocol: MeshProtocol = MeshProtocol.HTTP,
    code: int | None = 200,
    status: bool = True,
) -> ServiceMeshMetric:
    """A call of 10 ms at T0."""
    tcp = protocol is MeshProtocol.TCP
    return ServiceMeshMetric(
        role=role,
        detect_point=side,
        protocol=protocol,
        source=source,
        destination=destination,
        endpoint=None if tcp else "GET:/",
        response_code=None if tcp else code,
        status=status,
        timings=EntryTimings(
            start_time_ns=T0,
            time_to_last_downstream_tx_byte_ns=10 * MS,
            time_to_last_upstream_rx_byte_ns=10 * MS,
        ),
    )


GATEWAY = ServiceMetaInfo(
    service="istio-ingressgateway", instance="gw-abc", namespace="istio-system"
)
PRODUCTPAGE = ServiceMetaInfo(service="productpage", instance="productpage-v1", namespace="default")
PRODUCTPAGE_2 = ServiceMetaInfo(
    service="productpage", instance="productpage-v2", namespace="default"
)
PASSTHROUGH = ServiceMetaInfo(service="PassthroughCluster", instance="PassthroughCluster")
REVIEWS = ServiceMetaInfo(service="reviews", instance="reviews-v1", namespace="default")
NAMELESS = ServiceMetaInfo(service="", instance="")

# A gateway and a sidecar: the gateway logs both halves of the call it forwards.
MESH = [
    call(SERVER, source=UNKNOWN, destination=GATEWAY, role=Role.PROXY),
    call(CLIENT, source=GATEWAY, destination=PRODUCTPAGE, role=Role.PROXY),
    call(SERVER, source=GATEWAY, destination=PRODUCTPAGE),
    call(CLIENT, source=PRODUCTPAGE_2, destination=REVIEWS, code=503, status=False),
    call(CLIENT, source=PRODUCTPAGE, destination=PASSTHROUGH, protocol=MeshProtocol.TCP),
    call(SERVER, source=NAMELESS, destination=REVIEWS),
]

EXPECTED_NODES = {
    "": ServiceNode(name=""),
    "PassthroughCluster": ServiceNode(name="PassthroughCluster", instances=("PassthroughCluster",)),
    "UNKNOWN": ServiceNode(name="UNKNOWN", instances=("UNKNOWN",)),
    "istio-ingressgateway": ServiceNode(
        name="istio-ingressgateway",
        instances=("gw-abc",),
        namespaces=("istio-system",),
        reporter_roles=(Role.PROXY,),
    ),
    "productpage": ServiceNode(
        name="productpage",
        instances=("productpage-v1", "productpage-v2"),
        namespaces=("default",),
        reporter_roles=(Role.SIDECAR,),
    ),
    "reviews": ServiceNode(
        name="reviews",
        instances=("reviews-v1",),
        namespaces=("default",),
        reporter_roles=(Role.SIDECAR,),
    ),
}

NODE_KINDS = [
    ("", NodeKind.UNKNOWN, False),
    ("PassthroughCluster", NodeKind.PSEUDO, False),
    ("UNKNOWN", NodeKind.UNKNOWN, False),
    ("istio-ingressgateway", NodeKind.GATEWAY, True),
    ("productpage", NodeKind.SERVICE, True),
    ("reviews", NodeKind.SERVICE, True),
]


def test_nodes() -> None:
    graph = topology(MESH)
    assert graph.nodes == EXPECTED_NODES
    assert list(graph.nodes) == sorted(EXPECTED_NODES)


@pytest.mark.parametrize(("name", "kind", "has_proxy"), NODE_KINDS)
def test_node_kind(name: str, kind: NodeKind, has_proxy: bool) -> None:
    node = topology(MESH).node(name)
    assert (node.kind, node.has_proxy) == (kind, has_proxy)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("BlackHoleCluster", NodeKind.PSEUDO),
        ("InboundPassthroughClusterIpv4", NodeKind.PSEUDO),
        ("ratings", NodeKind.SERVICE),
    ],
)
def test_node_kind_by_name(name: str, kind: NodeKind) -> None:
    assert ServiceNode(name=name, reporter_roles=(Role.SIDECAR,)).kind is kind


def test_waypoint_is_not_a_gateway() -> None:
    assert ServiceNode(name="waypoint", reporter_roles=(Role.WAYPOINT,)).kind is NodeKind.SERVICE


# (source, destination, client requests, server requests, combined requests, combined errors)
EXPECTED_EDGES = [
    ("", "reviews", 0, 1, 1, 0),
    ("UNKNOWN", "istio-ingressgateway", 0, 1, 1, 0),
    ("istio-ingressgateway", "productpage", 1, 1, 1, 0),
    ("productpage", "PassthroughCluster", 1, 0, 1, 0),
    ("productpage", "reviews", 1, 0, 1, 1),
]


def test_edges() -> None:
    graph = topology(MESH)
    rows = [
        (
            edge.source,
            edge.destination,
            edge.client.requests,
            edge.server.requests,
            edge.combined().requests,
            edge.combined().errors,
        )
        for edge in graph.edges.values()
    ]
    assert rows == EXPECTED_EDGES
    gateway_edge = graph.edge("istio-ingressgateway", "productpage")
    assert gateway_edge == Edge(
        source="istio-ingressgateway",
        destination="productpage",
        traffic=ReportedTraffic(
            client=TrafficStats.of([MESH[1]]),
            server=TrafficStats.of([MESH[2]]),
            security=SecurityStats(
                server_requests=FrozenMap({TlsMode.NONE: 1}),
                client_requests=1,
                plaintext_into_meshed=1,  # productpage's sidecar logged it
            ),
        ),
    )
    assert gateway_edge.combined() == TrafficStats.of([MESH[2]])


def test_inbound_and_outbound() -> None:
    graph = topology(MESH)
    assert [edge.source for edge in graph.inbound("reviews")] == ["", "productpage"]
    assert [edge.destination for edge in graph.outbound("productpage")] == [
        "PassthroughCluster",
        "reviews",
    ]
    assert graph.inbound("UNKNOWN") == ()


def test_unknown_node_and_edge() -> None:
    graph = topology(MESH)
    with pytest.raises(KeyError):
        graph.node("ratings")
    with pytest.raises(KeyError):
        graph.edge("reviews", "productpage")


@pytest.mark.parametrize("split", [0, 1, 3, 6])
def test_merge_equals_topology_of_concatenation(split: int) -> None:
    whole = topology(MESH)
    first, second = topology(MESH[:split]), topology(MESH[split:])
    assert first + second == whole
    assert second + first == whole
    assert merge(second, first) == whole
    assert Topology.merge_all([second, Topology(), first]) == whole


def test_empty_topology() -> None:
    assert topology([]) == Topology() == Topology.merge_all([])
    assert Topology().to_dict() == {
        "nodes": [],
        "edges": [],
        "period": {"first_start_ns": None, "last_end_ns": None, "seconds": None},
    }


def test_node_merge() -> None:
    a = ServiceNode(name="x", instances=("b",), reporter_roles=(Role.SIDECAR,))
    b = ServiceNode(
        name="x", instances=("a", "b"), namespaces=("ns",), reporter_roles=(Role.PROXY,)
    )
    assert a.merge(b) == ServiceNode(
        name="x",
        instances=("a", "b"),
        namespaces=("ns",),
        reporter_roles=(Role.PROXY, Role.SIDECAR),
    )


def test_accumulator_add_topology() -> None:
    accumulator = TopologyAccumulator()
    accumulator.add_topology(topology(MESH[:2]))
    for metric in MESH[2:]:
        accumulator.add(metric)
    assert accumulator.result() == topology(MESH)


def test_relative_accuracy() -> None:
    graph = topology(MESH, relative_accuracy=0.05)
    assert graph.edge("productpage", "reviews").client.latency.relative_accuracy == 0.05
    with pytest.raises(AggregateError):
        topology(MESH, relative_accuracy=0.9)
    with pytest.raises(AggregateError):
        _ = graph + topology(MESH)


def test_add_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        _ = Topology() + 1  # type: ignore[operator]


def test_to_dict() -> None:
    data = topology(MESH[:2]).to_dict()
    assert data["nodes"] == [
        {
            "name": "UNKNOWN",
            "kind": "unknown",
            "instances": ["UNKNOWN"],
            "namespaces": [],
            "reporter_roles": [],
        },
        {
            "name": "istio-ingressgateway",
            "kind": "gateway",
            "instances": ["gw-abc"],
            "namespaces": ["istio-system"],
            "reporter_roles": ["proxy"],
        },
        {
            "name": "productpage",
            "kind": "service",
            "instances": ["productpage-v1"],
            "namespaces": ["default"],
            "reporter_roles": [],
        },
    ]
    edges: list[dict[str, Any]] = data["edges"]  # type: ignore[assignment]
    assert [(edge["source"], edge["destination"]) for edge in edges] == [
        ("UNKNOWN", "istio-ingressgateway"),
        ("istio-ingressgateway", "productpage"),
    ]
    assert edges[0]["server"]["requests"] == 1
    assert edges[0]["combined"]["requests"] == 1
    assert json.loads(json.dumps(data)) == data


# --- the real Envoy recordings -----------------------------------------------------------

ENVOY_FIXTURES = Path(__file__).parents[1] / "fixtures" / "envoy"
GROUND_TRUTH: dict[str, Any] = json.loads(
    (ENVOY_FIXTURES / "ground_truth.json").read_text(encoding="utf-8")
)
# Pods and Service VIPs: a call without an upstream host (UH) is named by the VIP it dialled.
RESOLVER_TABLE = {
    **GROUND_TRUTH["resolver"],
    **{
        ip: {"service": name, "instance": name} for ip, name in GROUND_TRUTH["service_vips"].items()
    },
}
UNREACHED_CODES = {
    "UH",
    "UF",
    "UO",
    "NR",
    "FI",
    "RL",
    "UAEX",
    "RLSE",
    "IH",
    "DPE",
    "NFCF",
    "NC",
    "OM",
    "DF",
}


@pytest.fixture(scope="module")
def recorded_metrics() -> list[ServiceMeshMetric]:
    resolver = StaticResolver.from_mapping(RESOLVER_TABLE)
    metrics: list[ServiceMeshMetric] = []
    for path in sorted(ENVOY_FIXTURES.glob("*.bin")):
        metrics.extend(meshals.analyze(meshals.read(path), resolver=resolver))
    return metrics


Observation = tuple[DetectPoint, dict[str, Any]]


def ground_truth_observations() -> dict[tuple[str, str], list[Observation]]:
    """Each edge's observations, from what the recorder says each Envoy logged for each call."""
    streams = GROUND_TRUTH["streams"]
    envoys = GROUND_TRUTH["envoys"]
    edges: dict[tuple[str, str], list[Observation]] = {}
    for planned in GROUND_TRUTH["calls"]:
        caller = planned["via"] or planned["client"]["service"] or "UNKNOWN"
        server = planned["server"]["service"]
        for logged in planned["logged_by"]:
            stream = streams[logged["stream"]]
            entry = stream["entries"][logged["index"]]
            envoy = envoys[stream["envoy"]]["service"]
            if entry["direction"] == "gateway":
                # The gateway is called by the outside client and calls the server itself.
                edges.setdefault(("UNKNOWN", envoy), []).append((SERVER, entry))
                if entry["upstream_remote_address"] is not None:
                    edges.setdefault((envoy, server), []).append((CLIENT, entry))
            elif entry["direction"] == "inbound":
                edges.setdefault((caller, envoy), []).append((SERVER, entry))
            else:
                edges.setdefault((envoy, server), []).append((CLIENT, entry))
    return edges


def combined_entries(observations: list[Observation]) -> list[dict[str, Any]]:
    """The documented combination, applied to the ground truth."""
    servers = [entry for side, entry in observations if side is SERVER]
    if not servers:
        return [entry for _, entry in observations]
    unreached = [
        entry
        for side, entry in observations
        if side is CLIENT and UNREACHED_CODES & set(entry["response_flags"])
    ]
    return servers + unreached


def test_recorded_edges_match_ground_truth(recorded_metrics: list[ServiceMeshMetric]) -> None:
    graph = topology(recorded_metrics)
    expected = ground_truth_observations()
    assert sorted(graph.edges) == sorted(expected)
    for key, observations in expected.items():
        edge = graph.edges[key]
        entries = combined_entries(observations)
        combined = edge.combined()
        assert edge.client.requests == sum(side is CLIENT for side, _ in observations), key
        assert edge.server.requests == sum(side is SERVER for side, _ in observations), key
        assert combined.requests == len(entries), key
        http = [entry for entry in entries if entry["protocol"] != "TCP"]
        assert combined.code_classes == Counter(code_class(e["response_code"]) for e in http), key
        flags = Counter(flag for entry in entries for flag in entry["response_flags"])
        assert combined.response_flags == flags, key
        tcp = [entry for entry in entries if entry["protocol"] == "TCP"]
        assert combined.received_bytes == sum(entry["bytes_received"] for entry in tcp), key
        assert combined.sent_bytes == sum(entry["bytes_sent"] for entry in tcp), key
        assert combined.latency.count == len(entries), key


def planned_calls(source: str, destination: str) -> list[dict[str, Any]]:
    """The calls the recorder made over an edge (a gateway routes none on a ``no_route``)."""
    planned = []
    for c in GROUND_TRUTH["calls"]:
        caller = c["via"] or c["client"]["service"] or "UNKNOWN"
        from_outside = source == "UNKNOWN" and c["via"] == destination
        routed = not (c["via"] and c["outcome"] == "no_route")
        direct = (caller, c["server"]["service"]) == (source, destination) and routed
        if from_outside or direct:
            planned.append(c)
    return planned


# A few edges spelled out: (source, destination, calls, combined codes, combined errors).
RECORDED_EDGES = [
    ("UNKNOWN", "istio-ingressgateway", 6, {"2xx": 3, "4xx": 2, "5xx": 1}, 1),
    ("istio-ingressgateway", "productpage", 5, {"2xx": 3, "4xx": 1, "5xx": 1}, 1),
    # 3 x 200, 500, the timeout (reviews logged no code: DC) and the UH call reviews never saw.
    ("productpage", "reviews", 6, {"2xx": 3, "5xx": 2, "none": 1}, 3),
    ("productpage", "recommendations", 1, {"5xx": 1}, 1),
    ("productpage", "mysqldb", 1, {}, 1),
    ("productpage", "mongodb", 2, {}, 0),
    ("reviews", "ratings", 4, {"2xx": 4}, 1),
]


@pytest.mark.parametrize(("source", "destination", "calls", "codes", "errors"), RECORDED_EDGES)
def test_recorded_edge_counts(  # noqa: PLR0917 (one parameter per table column)
    recorded_metrics: list[ServiceMeshMetric],
    source: str,
    destination: str,
    calls: int,
    codes: dict[str, int],
    errors: int,
) -> None:
    assert len(planned_calls(source, destination)) == calls
    combined = topology(recorded_metrics).edge(source, destination).combined()
    assert (combined.requests, dict(combined.code_classes), combined.errors) == (
        calls,
        codes,
        errors,
    )


RECORDED_NODES = [
    ("UNKNOWN", NodeKind.UNKNOWN, ("UNKNOWN",)),
    ("istio-ingressgateway", NodeKind.GATEWAY, ("istio-ingressgateway-abc",)),
    ("productpage", NodeKind.SERVICE, ("productpage-v1-xyz",)),
    ("ratings", NodeKind.SERVICE, ("ratings-v1-rtg",)),
    # Named by its VIP only (the UH call) and by its pod.
    ("reviews", NodeKind.SERVICE, ("reviews", "reviews-v1-rvw")),
]


@pytest.mark.parametrize(("name", "kind", "instances"), RECORDED_NODES)
def test_recorded_nodes(
    recorded_metrics: list[ServiceMeshMetric],
    name: str,
    kind: NodeKind,
    instances: tuple[str, ...],
) -> None:
    node = topology(recorded_metrics).node(name)
    assert (node.kind, node.instances) == (kind, instances)


def test_recorded_flags(recorded_metrics: list[ServiceMeshMetric]) -> None:
    graph = topology(recorded_metrics)
    edge = graph.edge("productpage", "reviews")
    assert edge.traffic.unreached.response_flags == {ResponseFlag.NO_HEALTHY_UPSTREAM.short_code: 1}
    assert edge.client.response_flags == {"UH": 1, "UT": 1}
    assert edge.server.response_flags == {"DC": 1}


def test_forgetting_the_node_facts_seen_changes_nothing(
    recorded_metrics: list[ServiceMeshMetric], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The accumulator notes each metric's node facts once, in a bounded memo cleared when full.
    expected = topology(recorded_metrics)
    monkeypatch.setattr(_topology, "_SEEN_LIMIT", 2)
    forgetful = topology(recorded_metrics)
    assert forgetful == expected
    assert [node.to_dict() for node in forgetful.nodes.values()] == [
        node.to_dict() for node in expected.nodes.values()
    ]
    assert len(expected.nodes) == 9
