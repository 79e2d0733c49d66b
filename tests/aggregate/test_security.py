"""How an edge's calls were secured (``SecurityStats``): exact on TLS captures built from the
recordings, and the same however the input is split and merged."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from conftest import MtlsCapture, spiffe_id

import meshals
from meshals import Role, ServiceMeshMetric
from meshals._values import FrozenMap
from meshals.aggregate import (
    RedStats,
    SecurityAccumulator,
    SecurityStats,
    Topology,
    red,
    topology,
)
from meshals.aggregate._stats import UNREACHED_FLAGS
from meshals.model import DetectPoint, MeshProtocol, ResponseFlag, TlsMode
from meshals.model._service import ServiceMetaInfo

GATEWAY_ID = spiffe_id("istio-ingressgateway")
PRODUCTPAGE_ID = spiffe_id("productpage")


def call(
    side: DetectPoint,
    *,
    tls: TlsMode = TlsMode.NONE,
    protocol: MeshProtocol = MeshProtocol.HTTP,
    role: Role = Role.SIDECAR,
    peer: str | None = None,
    local: str | None = None,
    flags: frozenset[ResponseFlag] = frozenset(),
) -> ServiceMeshMetric:
    return ServiceMeshMetric(
        role=role,
        detect_point=side,
        protocol=protocol,
        source=ServiceMetaInfo(service="a", instance="a-1"),
        destination=ServiceMetaInfo(service="b", instance="b-1"),
        status=True,
        tls_mode=tls,
        peer_identity=peer,
        local_identity=local,
        response_flags=flags,
    )


# --- the counts and their rules -----------------------------------------------------------------


def test_server_side_counts_by_mode_and_kind() -> None:
    metrics = [
        call(DetectPoint.SERVER, tls=TlsMode.MTLS, peer="spiffe://a", local="spiffe://b"),
        call(DetectPoint.SERVER, tls=TlsMode.MTLS, peer="spiffe://a", local="spiffe://b"),
        call(DetectPoint.SERVER, tls=TlsMode.NONE, protocol=MeshProtocol.TCP),
        call(DetectPoint.SERVER, tls=TlsMode.TLS, role=Role.PROXY, local="spiffe://b"),
        call(DetectPoint.CLIENT),  # a client's view: no TLS facts, and its server logged
    ]
    security = topology(metrics).edge("a", "b").security
    assert security == SecurityStats(
        server_requests=FrozenMap({TlsMode.TLS: 1, TlsMode.MTLS: 2}),
        server_connections=FrozenMap({TlsMode.NONE: 1}),
        client_requests=1,
        client_principals=FrozenMap({"spiffe://a": 2}),
        server_principals=FrozenMap({"spiffe://b": 3}),
        plaintext_into_meshed=1,  # the sidecar's plaintext TCP; the gateway took TLS
    )
    assert (security.known, security.unknown_requests, security.unknown_connections) == (4, 0, 0)
    assert security.mtls_share == 0.5
    assert security.to_dict() == {
        "requests": {"mtls": 2, "tls": 1, "plaintext": 0, "unknown": 0},
        "connections": {"mtls": 0, "tls": 0, "plaintext": 1, "unknown": 0},
        "mtls_share": 0.5,
        "client_principals": {"spiffe://a": 2},
        "server_principals": {"spiffe://b": 3},
        "plaintext_into_meshed": 1,
    }


@pytest.mark.parametrize(
    ("role", "flagged"),
    [
        (Role.SIDECAR, 1),
        (Role.WAYPOINT, 1),
        (Role.ZTUNNEL, 1),
        (Role.PROXY, 0),  # a gateway is there to take traffic from outside the mesh
        (Role.NONE, 0),
    ],
)
def test_plaintext_into_a_meshed_workload(role: Role, flagged: int) -> None:
    server = call(DetectPoint.SERVER, role=role)
    assert topology([server]).edge("a", "b").security.plaintext_into_meshed == flagged


def test_calls_seen_only_client_side_have_unknown_tls() -> None:
    # No server logged anything: every client-side call is of unknown TLS, and no share.
    client = [call(DetectPoint.CLIENT), call(DetectPoint.CLIENT, protocol=MeshProtocol.TCP)]
    security = topology(client).edge("a", "b").security
    assert (security.unknown_requests, security.unknown_connections) == (1, 1)
    assert security.mtls_share is None


def test_unreached_calls_count_by_protocol() -> None:
    # Client-side calls that never reached a server: requests and connections apart.
    unreached = frozenset({ResponseFlag.UPSTREAM_CONNECTION_FAILURE})
    tcp = MeshProtocol.TCP
    client = [
        call(DetectPoint.CLIENT, flags=unreached),
        call(DetectPoint.CLIENT, protocol=tcp, flags=unreached),
        call(DetectPoint.CLIENT, protocol=tcp, flags=unreached),
        call(DetectPoint.CLIENT, protocol=tcp),
    ]
    security = topology(client).edge("a", "b").security
    assert (
        security.client_requests,
        security.client_connections,
        security.unreached_requests,
        security.unreached_connections,
    ) == (1, 3, 1, 2)


def test_the_accumulator_counts_one_metric_at_a_time() -> None:
    # Two of each count that adds one, so that setting a count to one instead shows.
    accumulator = SecurityAccumulator()
    accumulator.add(call(DetectPoint.CLIENT), unreached=True)
    accumulator.add(call(DetectPoint.CLIENT), unreached=True)
    accumulator.add(call(DetectPoint.CLIENT, protocol=MeshProtocol.TCP), unreached=True)
    accumulator.add(call(DetectPoint.CLIENT, protocol=MeshProtocol.TCP), unreached=False)
    accumulator.add(
        call(DetectPoint.SERVER, tls=TlsMode.MTLS, peer="p", local="l"), unreached=False
    )
    accumulator.add(call(DetectPoint.SERVER, protocol=MeshProtocol.TCP), unreached=False)
    accumulator.add(call(DetectPoint.SERVER, protocol=MeshProtocol.TCP), unreached=False)
    accumulator.add(call(DetectPoint.SERVER, role=Role.PROXY, local="l"), unreached=False)
    assert accumulator.result() == SecurityStats(
        server_requests=FrozenMap({TlsMode.MTLS: 1, TlsMode.NONE: 1}),
        server_connections=FrozenMap({TlsMode.NONE: 2}),
        client_requests=2,
        client_connections=2,
        unreached_requests=2,
        unreached_connections=1,
        client_principals=FrozenMap({"p": 1}),
        server_principals=FrozenMap({"l": 2}),
        plaintext_into_meshed=2,  # the sidecar's TCP; the gateway's plaintext is not counted
    )


def test_the_accumulator_one_metric_at_a_time_is_the_summary(mtls_capture: MtlsCapture) -> None:
    # add(), metric by metric, counts each edge as the summary's fold of the same metrics does.
    by_edge: dict[tuple[str, str], SecurityAccumulator] = {}
    for metric in mtls_capture.metrics():
        key = (metric.source.service, metric.destination.service)
        flags = metric.response_flags
        unreached = metric.detect_point is DetectPoint.CLIENT and bool(flags & UNREACHED_FLAGS)
        by_edge.setdefault(key, SecurityAccumulator()).add(metric, unreached=unreached)
    graph = topology(mtls_capture.metrics())
    assert {key: each.result() for key, each in by_edge.items()} == {
        key: edge.security for key, edge in graph.edges.items()
    }


def test_empty() -> None:
    assert SecurityStats().mtls_share is None
    assert SecurityStats() + SecurityStats() == SecurityStats()
    assert SecurityStats().__add__(1) is NotImplemented  # type: ignore[operator]


# --- a capture with TLS -------------------------------------------------------------------------


def test_the_synthetic_capture_edge_by_edge(synthetic_mtls: MtlsCapture) -> None:
    graph = topology(synthetic_mtls.metrics())
    rows = {
        key: (
            edge.security.to_dict()["requests"],
            edge.security.to_dict()["connections"],
            edge.security.mtls_share,
            edge.security.plaintext_into_meshed,
        )
        for key, edge in graph.edges.items()
    }
    none = {"mtls": 0, "tls": 0, "plaintext": 0, "unknown": 0}
    assert rows == {
        # The outside client called the gateway's HTTPS listener: one-way TLS.
        ("UNKNOWN", "istio-ingressgateway"): ({**none, "tls": 6}, none, 0.0, 0),
        ("istio-ingressgateway", "productpage"): ({**none, "mtls": 5}, none, 1.0, 0),
        # Never reached a server (no healthy upstream): TLS unknown.
        ("productpage", "UNKNOWN"): ({**none, "unknown": 1}, none, None, 0),
        ("productpage", "details"): ({**none, "mtls": 4}, none, 1.0, 0),
        # One connection mutual TLS, the other plaintext into mongodb's sidecar.
        ("productpage", "mongodb"): (none, {**none, "mtls": 1, "plaintext": 1}, 0.5, 1),
        ("productpage", "mysqldb"): (none, {**none, "unknown": 1}, None, 0),
        ("productpage", "recommendations"): ({**none, "unknown": 1}, none, None, 0),
        ("productpage", "reviews"): ({**none, "mtls": 5}, none, 1.0, 0),
        # ratings has no Envoy: only reviews' client side logged those calls.
        ("reviews", "ratings"): ({**none, "unknown": 4}, none, None, 0),
    }
    reviews = graph.edge("productpage", "reviews").security
    assert dict(reviews.client_principals) == {PRODUCTPAGE_ID: 5}
    assert dict(reviews.server_principals) == {spiffe_id("reviews"): 5}
    gateway = graph.edge("istio-ingressgateway", "productpage").security
    assert dict(gateway.client_principals) == {GATEWAY_ID: 5}


def test_the_mtls_recording_edge_by_edge(recorded_mtls: MtlsCapture) -> None:
    # As its README describes the hops: sidecar -> sidecar and gateway -> sidecar mutual TLS,
    # the gateway's HTTPS listener one-way TLS, legacy (no sidecar) -> details' PERMISSIVE
    # listener plaintext, and calls to workloads without a sidecar seen client-side only.
    graph = topology(recorded_mtls.metrics())
    none = {"mtls": 0, "tls": 0, "plaintext": 0, "unknown": 0}
    rows = {
        key: (
            edge.security.to_dict()["requests"],
            edge.security.to_dict()["connections"],
            edge.security.plaintext_into_meshed,
            dict(edge.security.client_principals),
        )
        for key, edge in graph.edges.items()
    }
    assert rows == {
        ("UNKNOWN", "istio-ingressgateway"): ({**none, "tls": 6}, none, 0, {}),
        ("istio-ingressgateway", "productpage"): ({**none, "mtls": 5}, none, 0, {GATEWAY_ID: 5}),
        ("legacy", "details"): ({**none, "plaintext": 1}, none, 1, {}),
        ("productpage", "UNKNOWN"): ({**none, "unknown": 1}, none, 0, {}),
        ("productpage", "details"): ({**none, "mtls": 4}, none, 0, {PRODUCTPAGE_ID: 4}),
        ("productpage", "legacy"): ({**none, "unknown": 1}, none, 0, {}),
        ("productpage", "mongodb"): (none, {**none, "mtls": 2}, 0, {PRODUCTPAGE_ID: 2}),
        ("productpage", "mysqldb"): (none, {**none, "unknown": 1}, 0, {}),
        ("productpage", "recommendations"): ({**none, "unknown": 1}, none, 0, {}),
        ("productpage", "reviews"): ({**none, "mtls": 5}, none, 0, {PRODUCTPAGE_ID: 5}),
        ("reviews", "ratings"): ({**none, "mtls": 4}, none, 0, {spiffe_id("reviews"): 4}),
    }
    # The gateway's HTTPS certificate names a host, no SPIFFE id: no server principal.
    assert dict(graph.edge("UNKNOWN", "istio-ingressgateway").security.server_principals) == {}


def test_principals_of_every_capture_match_its_certificates(mtls_capture: MtlsCapture) -> None:
    # Every server-side certificate shows as a principal of its edge, each call once.
    metrics = mtls_capture.metrics()
    graph = topology(metrics)
    for kind, attribute in (("client", "peer_identity"), ("server", "local_identity")):
        expected: dict[tuple[str, str, str], int] = {}
        for metric in metrics:
            identity = getattr(metric, attribute)
            if metric.detect_point is DetectPoint.SERVER and identity is not None:
                key = (metric.source.service, metric.destination.service, identity)
                expected[key] = expected.get(key, 0) + 1
        seen = {
            (*key, principal): count
            for key, edge in graph.edges.items()
            for principal, count in getattr(edge.security, f"{kind}_principals").items()
        }
        assert seen == expected


# --- mergeable: any split, any order ------------------------------------------------------------


def parts(items: list[ServiceMeshMetric], count: int) -> list[list[ServiceMeshMetric]]:
    size = -(-len(items) // count)
    return [items[start : start + size] for start in range(0, len(items), size)]


@pytest.mark.parametrize("count", [2, 3])
def test_split_in_parts_merged_in_every_order_is_the_whole(
    mtls_capture: MtlsCapture, count: int
) -> None:
    metrics = mtls_capture.metrics()
    whole_graph = topology(metrics)
    whole_red = red(metrics, scope="edge")
    pieces = parts(metrics, count)
    for order in itertools.permutations(pieces):
        assert Topology.merge_all(topology(piece) for piece in order) == whole_graph
        assert RedStats.merge_all(red(piece, scope="edge") for piece in order) == whole_red
    securities = [whole_graph.edges[key].security for key in whole_graph.edges]
    merged = [group.security for group in whole_red.groups.values()]
    assert merged == securities  # the RED edge groups carry the same security


def test_summaries_of_each_file_merge_into_the_whole(mtls_capture: MtlsCapture) -> None:
    resolver = meshals.StaticResolver.from_json(mtls_capture.resolver.read_bytes())
    files: list[Path] = mtls_capture.files()
    each = [meshals.summarize(meshals.read(path), resolver=resolver) for path in files]
    whole = meshals.summarize([meshals.read(path) for path in files], resolver=resolver)
    for order in (each, each[::-1]):
        assert meshals.Summary.merge_all(order).topology == whole.topology
