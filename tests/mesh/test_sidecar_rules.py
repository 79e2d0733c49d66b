"""Sidecar rules: an outbound metric carries the entry's TLS facts (a gateway's client side does
not), and Istio's special clusters decide the direction without the node's IPs."""

from __future__ import annotations

import attrs
import pytest

from meshals import (
    AccessLogCommon,
    AlsMessage,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    Identifier,
    Node,
    analyze,
)
from meshals.mesh._addresses import Endpoint
from meshals.mesh._k8s_mesh import sidecar_direction
from meshals.model import (
    CertificateProperties,
    HttpVersion,
    RequestMethod,
    SocketAddress,
    SubjectAltName,
    TlsProperties,
)
from meshals.model._clusters import ClusterDirection
from meshals.model._metrics import DetectPoint, Semantics, TlsMode
from meshals.model._service import ServiceMetaInfo

PRODUCTPAGE_IP, REVIEWS_IP, REVIEWS_VIP = "10.0.0.2", "10.0.0.3", "10.96.0.3"
NAMES = {PRODUCTPAGE_IP: "productpage", REVIEWS_IP: "reviews", REVIEWS_VIP: "reviews-vip"}
LOCAL_ID = "spiffe://cluster.local/ns/default/sa/productpage"
PEER_ID = "spiffe://cluster.local/ns/default/sa/app-client"


class Names:
    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        name = NAMES.get(ip)
        return None if name is None else ServiceMetaInfo(service=name, instance=f"{name}-1")


def _certificate(uri: str) -> CertificateProperties:
    return CertificateProperties(subject="CN=x", subject_alt_name=(SubjectAltName(uri=uri),))


def _entry(
    tls: TlsProperties | None,
    cluster: str = "outbound|9080||reviews.default.svc.cluster.local",
) -> HttpEntry:
    return HttpEntry(
        common_properties=AccessLogCommon(
            downstream_remote_address=SocketAddress(address=PRODUCTPAGE_IP, port=40000),
            downstream_local_address=SocketAddress(address=REVIEWS_VIP, port=9080),
            upstream_remote_address=SocketAddress(address=REVIEWS_IP, port=9080),
            upstream_cluster=cluster,
            tls_properties=tls,
        ),
        protocol_version=HttpVersion.HTTP11,
        request=HttpRequest(request_method=RequestMethod.GET, path="/reviews/0"),
        response=HttpResponse(response_code=200),
    )


def _metrics(
    node_id: str, entry: HttpEntry, semantics: Semantics = "meshals"
) -> list[tuple[object, ...]]:
    message = AlsMessage(identifier=Identifier(node=Node(id=node_id)), entries=(entry,), index=0)
    return [
        (m.detect_point, m.source.service, m.destination.service, m.tls_mode, m.peer_identity,
         m.local_identity)
        for m in analyze([message], resolver=Names(), semantics=semantics).metrics()
    ]  # fmt: skip


SIDECAR = f"sidecar~{PRODUCTPAGE_IP}~productpage-1.default~default.svc.cluster.local"
GATEWAY = "router~10.96.0.3~gw-1.istio-system~istio-system.svc.cluster.local"
MUTUAL = TlsProperties(
    local_certificate_properties=_certificate(LOCAL_ID),
    peer_certificate_properties=_certificate(PEER_ID),
)
ONE_WAY = TlsProperties(local_certificate_properties=_certificate(LOCAL_ID))


def test_sidecar_outbound_metric_keeps_the_entrys_tls() -> None:
    assert _metrics(SIDECAR, _entry(MUTUAL)) == [
        (DetectPoint.CLIENT, "productpage", "reviews", TlsMode.MTLS, PEER_ID, LOCAL_ID)
    ]
    assert _metrics(SIDECAR, _entry(ONE_WAY)) == [
        (DetectPoint.CLIENT, "productpage", "reviews", TlsMode.TLS, None, LOCAL_ID)
    ]
    assert _metrics(SIDECAR, _entry(None)) == [
        (DetectPoint.CLIENT, "productpage", "reviews", TlsMode.NONE, None, None)
    ]


def test_gateway_client_side_has_no_tls_facts() -> None:
    # The same entry from a gateway: its downstream TLS is the server side's only.
    assert _metrics(GATEWAY, _entry(MUTUAL)) == [
        (DetectPoint.SERVER, "productpage", "reviews-vip", TlsMode.MTLS, PEER_ID, LOCAL_ID),
        (DetectPoint.CLIENT, "reviews-vip", "reviews", TlsMode.NONE, None, None),
    ]


def test_skywalkings_rules_keep_the_same_tls_facts() -> None:
    # Under SkyWalking's semantics too: a sidecar's metric, either way, and a gateway's server
    # side carry the downstream TLS; a gateway's client side does not.
    inbound = _entry(MUTUAL, "inbound|9080||")
    assert _metrics(SIDECAR, _entry(MUTUAL), "skywalking") == [
        (DetectPoint.CLIENT, "productpage", "reviews", TlsMode.MTLS, PEER_ID, LOCAL_ID)
    ]
    assert _metrics(SIDECAR, inbound, "skywalking") == [
        (DetectPoint.SERVER, "productpage", "reviews-vip", TlsMode.MTLS, PEER_ID, LOCAL_ID)
    ]
    assert _metrics(GATEWAY, _entry(MUTUAL), "skywalking") == [
        (DetectPoint.SERVER, "productpage", "reviews-vip", TlsMode.MTLS, PEER_ID, LOCAL_ID),
        (DetectPoint.CLIENT, "reviews-vip", "reviews", TlsMode.NONE, None, None),
    ]


OWN, OTHER = Endpoint(PRODUCTPAGE_IP, 9080), Endpoint(REVIEWS_VIP, 9080)


@pytest.mark.parametrize(
    ("cluster", "local", "caller", "direction"),
    [
        # The addresses say inbound (an own local IP, a foreign caller); the cluster wins.
        ("PassthroughCluster", OWN, OTHER, ClusterDirection.OUTBOUND),
        ("BlackHoleCluster", OWN, OTHER, ClusterDirection.OUTBOUND),
        # The addresses say outbound (a foreign local IP); the cluster wins.
        ("InboundPassthroughClusterIpv4", OTHER, OWN, ClusterDirection.INBOUND),
        ("InboundPassthroughClusterIpv6", OTHER, OWN, ClusterDirection.INBOUND),
        # No special cluster: the addresses decide.
        ("", OWN, OTHER, ClusterDirection.INBOUND),
        ("", OTHER, OWN, ClusterDirection.OUTBOUND),
    ],
)
def test_a_special_cluster_decides_over_the_addresses(
    cluster: str, local: Endpoint, caller: Endpoint, direction: ClusterDirection
) -> None:
    assert sidecar_direction(cluster, local, caller, (PRODUCTPAGE_IP,)) is direction


# A sidecar whose node id names no IP: only the cluster can tell the direction.
NO_IP_SIDECAR = "sidecar~~productpage-1.default~default.svc.cluster.local"


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        ("InboundPassthroughClusterIpv4", (DetectPoint.SERVER, "productpage", "reviews-vip")),
        ("PassthroughCluster", (DetectPoint.CLIENT, "productpage", "PassthroughCluster")),
        ("BlackHoleCluster", (DetectPoint.CLIENT, "productpage", "BlackHoleCluster")),
        ("outbound|9080||reviews", (DetectPoint.CLIENT, "productpage", "reviews")),
    ],
)
def test_special_clusters_decide_the_direction_without_node_ips(
    cluster: str, expected: tuple[DetectPoint, str, str]
) -> None:
    (metric,) = _metrics(NO_IP_SIDECAR, _entry(None, cluster))
    assert metric[:3] == expected


def test_a_foreign_cluster_without_node_ips_is_skipped() -> None:
    assert _metrics(NO_IP_SIDECAR, _entry(None, "my-static-cluster")) == []


def test_http_metrics_carry_the_body_sizes() -> None:
    entry = _entry(None)
    assert entry.request is not None
    assert entry.response is not None
    entry = attrs.evolve(
        entry,
        request=attrs.evolve(entry.request, request_body_bytes=120),
        response=attrs.evolve(entry.response, response_body_bytes=4096),
    )
    # A sidecar's one metric, and both of a gateway's.
    for node_id, count in ((SIDECAR, 1), (GATEWAY, 2)):
        message = AlsMessage(identifier=Identifier(node=Node(id=node_id)), entries=(entry,))
        metrics = analyze([message], resolver=Names()).metrics()
        assert [(m.request_bytes, m.response_bytes) for m in metrics] == [(120, 4096)] * count
