"""Istio's labels and measures of single entries, one rule per test (istio_stats.cc's rules)."""

from __future__ import annotations

import attrs
import pytest

from meshals import AlsMessage, Identifier, Node
from meshals._values import AnyValue, FrozenMap, OpaqueJson
from meshals.codec._filter_objects import grpc_message_counts
from meshals.codec._wire import encode_varint
from meshals.mesh import SkipReason, istio_samples
from meshals.mesh._istio_rules import (
    domain_of_node_id,
    first_uri_san,
    istio_sample_of,
    san_namespace,
)
from meshals.model import (
    AccessLogCommon,
    AccessLogType,
    CertificateProperties,
    ConnectionProperties,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    IstioSample,
    IstioWorkload,
    ResponseFlag,
    Role,
    SocketAddress,
    SubjectAltName,
    TcpEntry,
    TlsProperties,
)
from meshals.resolve import KubernetesWorkloads

OWN = IstioWorkload(
    workload="productpage-v1",
    namespace="default",
    canonical_service="productpage",
    canonical_revision="v1",
    app="productpage",
    version="v1",
    cluster="Kubernetes",
)
OWN_IP = "10.0.0.2"
TYPE = "type.googleapis.com/"
REVIEWS_PEER = AnyValue(
    type_url=TYPE + "google.protobuf.Struct",
    value=FrozenMap(
        {
            "workload": "reviews-v2",
            "namespace": "shop",
            "service": "reviews",
            "revision": "v2",
            "app": "reviews",
            "version": "v2",
            "cluster": "east",
            "identity": "spiffe://cluster.local/ns/shop/sa/reviews",
        }
    ),
    known=True,
)
PEER_SAN = "spiffe://cluster.local/ns/frontend/sa/productpage"
LOCAL_SAN = "spiffe://cluster.local/ns/default/sa/reviews"


def common(
    *,
    local: tuple[str, int] = ("10.96.0.9", 9080),
    remote: tuple[str, int] = (OWN_IP, 41234),
    upstream: tuple[str, int] | None = ("10.0.0.3", 9080),
    cluster: str = "outbound|9080||reviews.shop.svc.cluster.local",
    **fields: object,
) -> AccessLogCommon:
    return AccessLogCommon(
        downstream_local_address=SocketAddress(address=local[0], port=local[1]),
        downstream_remote_address=SocketAddress(address=remote[0], port=remote[1]),
        upstream_remote_address=None
        if upstream is None
        else SocketAddress(address=upstream[0], port=upstream[1]),
        upstream_cluster=cluster,
        **fields,  # type: ignore[arg-type]
    )


def http(
    properties: AccessLogCommon,
    *,
    code: int | None = 200,
    headers: dict[str, str] | None = None,
    trailers: dict[str, str] | None = None,
    authority: str = "reviews:9080",
) -> HttpEntry:
    return HttpEntry(
        common_properties=properties,
        request=HttpRequest(
            path="/reviews/0", authority=authority, request_headers=FrozenMap(headers or {})
        ),
        response=HttpResponse(response_code=code, response_trailers=FrozenMap(trailers or {})),
    )


def sample(
    entry: HttpEntry | TcpEntry,
    *,
    role: Role = Role.SIDECAR,
    workloads: KubernetesWorkloads | None = None,
    own: IstioWorkload = OWN,
    domain: str | None = "cluster.local",
) -> IstioSample:
    found = istio_sample_of(
        entry, role=role, own=own, own_ips=(OWN_IP,), domain=domain, workloads=workloads
    )
    assert isinstance(found, IstioSample)
    return found


def test_an_outbound_call_reported_by_the_source() -> None:
    properties = common(filter_state_objects=FrozenMap({"upstream_peer": REVIEWS_PEER}))
    labels = dict(sample(http(properties)).labels)
    assert labels == {
        "reporter": "source",
        "source_workload": "productpage-v1",
        "source_workload_namespace": "default",
        "source_principal": "unknown",  # the upstream TLS connection is not in ALS
        "source_app": "productpage",
        "source_version": "v1",
        "source_canonical_service": "productpage",
        "source_canonical_revision": "v1",
        "source_cluster": "Kubernetes",
        "destination_workload": "reviews-v2",
        "destination_workload_namespace": "shop",
        "destination_principal": "unknown",
        "destination_app": "reviews",
        "destination_version": "v2",
        "destination_service": "reviews.shop.svc.cluster.local",
        "destination_service_name": "reviews",
        "destination_service_namespace": "shop",  # the peer's namespace at the source
        "destination_canonical_service": "reviews",
        "destination_canonical_revision": "v2",
        "destination_cluster": "east",
        "request_protocol": "http",
        "response_flags": "-",
        "connection_security_policy": "unknown",
        "response_code": "200",
        "grpc_response_status": "",
    }


def test_an_inbound_call_reported_by_the_destination_with_mutual_tls() -> None:
    tls = TlsProperties(
        peer_certificate_properties=CertificateProperties(
            subject_alt_name=(SubjectAltName(dns="x.example"), SubjectAltName(uri=PEER_SAN))
        ),
        local_certificate_properties=CertificateProperties(
            subject_alt_name=(SubjectAltName(uri=LOCAL_SAN),)
        ),
    )
    peer = AnyValue(
        type_url=TYPE + "google.protobuf.Struct",
        value=FrozenMap({"workload": "productpage-v1", "namespace": "other"}),
        known=True,
    )
    properties = common(
        local=(OWN_IP, 9080),
        remote=("10.0.0.7", 5555),
        cluster="inbound|9080||",
        tls_properties=tls,
        filter_state_objects=FrozenMap({"downstream_peer": peer}),
    )
    labels = sample(http(properties)).labels
    assert labels["reporter"] == "destination"
    assert labels["source_principal"] == PEER_SAN  # the first URI SAN
    assert labels["destination_principal"] == LOCAL_SAN
    assert labels["connection_security_policy"] == "mutual_tls"
    # getNamespace: the certificate's namespace wins over the metadata's
    assert labels["source_workload_namespace"] == "frontend"
    assert labels["source_canonical_service"] == "unknown"  # not in its metadata
    assert labels["source_canonical_revision"] == "latest"
    assert labels["destination_workload"] == "productpage-v1"
    # no host in inbound|9080|| and no snapshot: the reporter's canonical service
    assert labels["destination_service"] == labels["destination_service_name"] == "productpage"
    assert labels["destination_service_namespace"] == "default"
    assert labels["destination_cluster"] == "Kubernetes"


def test_plaintext_inbound_is_none_and_principals_unknown() -> None:
    only_peer = TlsProperties(
        peer_certificate_properties=CertificateProperties(
            subject_alt_name=(SubjectAltName(uri=PEER_SAN),)
        )
    )
    for tls in (None, only_peer):  # Istio wants both SANs for mutual_tls
        properties = common(local=(OWN_IP, 9080), cluster="inbound|9080||", tls_properties=tls)
        labels = sample(http(properties)).labels
        assert labels["connection_security_policy"] == "none"
        assert labels["destination_principal"] == "unknown"


@pytest.mark.parametrize(
    ("port", "reporter"),
    [(15001, "source"), (15006, "destination")],
)
def test_the_capture_ports_decide_a_clusterless_entry(port: int, reporter: str) -> None:
    # Both addresses are the workload's own: only the capture port tells the direction.
    properties = common(local=(OWN_IP, port), remote=(OWN_IP, 40000), cluster="", upstream=None)
    assert sample(http(properties, code=503)).labels["reporter"] == reporter


def test_a_clusterless_entry_nothing_decides_is_skipped() -> None:
    properties = common(local=(OWN_IP, 9080), remote=(OWN_IP, 40000), cluster="", upstream=None)
    found = istio_sample_of(
        http(properties), role=Role.SIDECAR, own=OWN, own_ips=(OWN_IP,), domain=None, workloads=None
    )
    assert found is SkipReason.UNKNOWN_DIRECTION


@pytest.mark.parametrize(
    ("cluster", "route", "service", "name"),
    [
        ("BlackHoleCluster", "", "www.example.com", "BlackHoleCluster"),
        ("PassthroughCluster", "", "www.example.com", "PassthroughCluster"),
        ("", "block_all", "www.example.com", "BlackHoleCluster"),
        ("", "allow_any", "www.example.com", "PassthroughCluster"),
        # no cluster says it: a sidecar's outbound side takes the Host header for both
        ("", "", "www.example.com", "www.example.com"),
        # a ServiceEntry host: the host is its name too
        ("outbound|443||api.example.com", "", "api.example.com", "api.example.com"),
    ],
)
def test_external_destinations(cluster: str, route: str, service: str, name: str) -> None:
    properties = common(cluster=cluster, route_name=route, upstream=None)
    entry = http(properties, code=502, authority="www.example.com")
    labels = sample(entry).labels
    assert (labels["destination_service"], labels["destination_service_name"]) == (service, name)
    assert labels["destination_workload"] == "unknown"
    assert labels["destination_canonical_revision"] == "latest"


def test_a_gateway_does_not_fall_back_to_the_host_header() -> None:
    properties = common(cluster="", route_name="", upstream=None)
    labels = sample(http(properties, code=404), role=Role.PROXY).labels
    assert labels["reporter"] == "source"
    assert labels["destination_service"] == labels["destination_service_name"] == "unknown"


def test_an_unknown_peer_without_metadata_or_snapshot() -> None:
    labels = sample(http(common())).labels
    assert [labels[f"destination_{name}"] for name in ("workload", "app", "version")] == [
        "unknown"
    ] * 3
    assert labels["destination_canonical_service"] == "unknown"
    assert labels["destination_canonical_revision"] == "latest"
    assert labels["destination_workload_namespace"] == "unknown"
    assert labels["destination_cluster"] == "unknown"
    assert labels["destination_service_namespace"] == "shop"  # the cluster's Service's


REVIEWS_POD = {
    "kind": "Pod",
    "metadata": {
        "name": "reviews-v3-5c9f-x7k2p",
        "namespace": "shop",
        "generateName": "reviews-v3-5c9f-",
        "labels": {"app": "reviews", "version": "v3", "pod-template-hash": "5c9f"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": "reviews-v3-5c9f", "controller": True}],
    },
    "status": {"podIP": "10.0.0.3"},
}
CALLER_POD = {
    "kind": "Pod",
    "metadata": {"name": "ratings", "namespace": "shop", "labels": {"app": "ratings"}},
    "spec": {"serviceAccountName": "bookinfo-ratings"},
    "status": {"podIP": "10.0.0.7"},
}
SNAPSHOT = KubernetesWorkloads({"kind": "List", "items": [REVIEWS_POD, CALLER_POD]})


def test_a_peer_without_metadata_from_the_snapshot() -> None:
    labels = sample(http(common()), workloads=SNAPSHOT).labels
    assert labels["destination_workload"] == "reviews-v3"
    assert labels["destination_canonical_service"] == "reviews"  # from app
    assert labels["destination_canonical_revision"] == "v3"  # from version
    assert labels["destination_workload_namespace"] == "shop"
    # a snapshot does not say its cluster: the reporting proxy's (workload discovery)
    assert labels["destination_cluster"] == "Kubernetes"
    assert (labels["destination_app"], labels["destination_version"]) == ("reviews", "v3")


def test_measures_wire_bytes_and_whole_milliseconds() -> None:
    properties = common(
        duration_ns=7_999_999,
        downstream_wire_bytes_received=812,
        downstream_wire_bytes_sent=17_740,
        response_flags=frozenset(
            {ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED, ResponseFlag.UPSTREAM_CONNECTION_FAILURE}
        ),
    )
    found = sample(http(properties, code=503))
    assert (found.duration_ms, found.request_bytes, found.response_bytes) == (7, 812, 17_740)
    assert found.labels["response_flags"] == "UF,URX"
    assert sample(http(common(), code=None)).duration_ms is None
    assert sample(http(common(), code=None)).labels["response_code"] == "0"


def grpc_stats(value: object) -> FrozenMap[str, AnyValue]:
    return FrozenMap(
        {
            "envoy.filters.http.grpc_stats": AnyValue(
                type_url=TYPE + "envoy.extensions.filters.http.grpc_stats.v3.FilterObject",
                value=value,
                known=False,
            )
        }
    )


GRPC = {"content-type": "application/grpc"}


def test_grpc_status_and_message_counts() -> None:
    binary = bytes([0x08]) + encode_varint(300) + bytes([0x10, 0x02])
    entry = http(
        common(filter_state_objects=grpc_stats(binary)), headers=GRPC, trailers={"grpc-status": "5"}
    )
    found = sample(entry)
    assert found.labels["request_protocol"] == "grpc"
    assert found.labels["grpc_response_status"] == "5"
    assert (found.request_messages, found.response_messages) == (300, 2)
    as_json = OpaqueJson(fields=FrozenMap({"requestMessageCount": "4", "responseMessageCount": 1}))
    found = sample(http(common(filter_state_objects=grpc_stats(as_json)), headers=GRPC))
    assert (found.request_messages, found.response_messages) == (4, 1)
    # no grpc-status logged: inferred from the HTTP status (Grpc::Common::getGrpcStatus)
    assert found.labels["grpc_response_status"] == "2"
    assert sample(http(common(), code=503, headers=GRPC)).labels["grpc_response_status"] == "14"
    assert sample(http(common(), code=None, headers=GRPC)).labels["grpc_response_status"] == ""
    assert sample(http(common(), headers=GRPC)).request_messages is None  # not logged


def test_grpc_web_is_http_and_http_has_no_counts() -> None:
    web = sample(
        http(
            common(filter_state_objects=grpc_stats(b"\x08\x01")),
            headers={"content-type": "application/grpc-web"},
        )
    )
    assert web.labels["request_protocol"] == "http"
    assert web.labels["grpc_response_status"] == ""
    assert web.request_messages is None


@pytest.mark.parametrize(
    "value",
    [
        AnyValue(type_url=TYPE + "google.protobuf.Struct", value=FrozenMap(), known=True),
        AnyValue(type_url=TYPE + "x.grpc_stats.v3.FilterObject", value=b"\x08", known=False),
        AnyValue(type_url=TYPE + "x.grpc_stats.v3.FilterObject", value=None, known=False),
    ],
)
def test_unreadable_grpc_stats_objects(value: AnyValue) -> None:
    assert grpc_message_counts(value) is None


def test_a_tcp_entry_is_one_connection() -> None:
    entry = TcpEntry(
        common_properties=common(
            cluster="outbound|27017||mongodb.shop.svc.cluster.local",
            access_log_type=AccessLogType.TcpConnectionEnd,
            downstream_wire_bytes_received=90,
            downstream_wire_bytes_sent=700,
        ),
        connection_properties=ConnectionProperties(received_bytes=80, sent_bytes=690),
    )
    found = sample(entry)
    assert found.tcp
    assert (found.opened, found.closed) == (True, True)
    assert "response_code" not in found.labels
    assert found.labels["request_protocol"] == "tcp"
    assert (found.request_bytes, found.response_bytes) == (90, 700)  # the wire counts
    unlogged = TcpEntry(
        common_properties=common(cluster="outbound|27017||mongodb.shop.svc.cluster.local"),
        connection_properties=ConnectionProperties(received_bytes=80, sent_bytes=690),
    )
    assert (sample(unlogged).request_bytes, sample(unlogged).response_bytes) == (0, 0)


def test_intermediate_entries_count_nothing() -> None:
    periodic = TcpEntry(common_properties=common(access_log_type=AccessLogType.TcpPeriodic))
    found = istio_sample_of(
        periodic, role=Role.SIDECAR, own=OWN, own_ips=(), domain=None, workloads=None
    )
    assert found is SkipReason.INTERMEDIATE_ENTRY


def test_a_waypoint_reports_caller_to_endpoint() -> None:
    properties = common(
        local=("10.0.0.50", 15008),
        remote=("10.0.0.7", 5555),
        cluster="inbound-vip|9080|http|reviews.shop.svc.cluster.local",
        filter_state_objects=FrozenMap({"upstream_peer": REVIEWS_PEER}),
    )
    labels = sample(http(properties), role=Role.WAYPOINT).labels
    assert labels["reporter"] == "waypoint"
    assert labels["source_workload"] == "unknown"
    assert labels["destination_workload"] == "reviews-v2"
    assert labels["destination_principal"] == "spiffe://cluster.local/ns/shop/sa/reviews"
    assert labels["destination_service"] == "reviews.shop.svc.cluster.local"
    # the cluster's Service's namespace; the endpoint's cluster
    assert labels["destination_service_namespace"] == "shop"
    assert labels["destination_cluster"] == "east"
    assert labels["connection_security_policy"] == "none"


def test_helpers() -> None:
    assert san_namespace("spiffe://td/ns/shop/sa/x") == "shop"
    assert san_namespace("spiffe://td/ns/shop") == "shop"
    assert san_namespace("spiffe://td/sa/x") is None
    assert san_namespace("spiffe://td/ns/ns/sa/default") == "ns"  # the first /ns/
    assert san_namespace(None) is None
    assert domain_of_node_id("sidecar~1.2.3.4~p.ns~ns.svc.example.org") == "example.org"
    assert domain_of_node_id("envoy-1") is None
    assert domain_of_node_id("sidecar~1.2.3.4~p.ns~example") is None  # not <ns>.svc.<domain>


def test_the_walk_identifies_streams_and_their_own_workload() -> None:
    node = Node(
        id="sidecar~10.0.0.2~productpage-v1-xyz.default~default.svc.cluster.local",
        metadata=FrozenMap({"WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default"}),
    )
    entry = http(common())
    messages = [
        AlsMessage(identifier=Identifier(node=node), entries=(entry,)),
        AlsMessage(entries=(entry,)),  # the stream's identifier holds
    ]
    unidentified = [AlsMessage(entries=(entry,))]
    found = list(istio_samples([messages, unidentified]))
    assert [s.labels["source_workload"] for s in found] == ["productpage-v1"] * 2
    assert found[0].labels["source_app"] == ""  # not in its node metadata: empty, as Istio
    assert list(istio_samples(messages, since=10**20)) == []  # outside the range (no start time)


def test_a_caller_without_metadata_from_the_snapshot() -> None:
    properties = common(local=(OWN_IP, 9080), remote=("10.0.0.7", 5555), cluster="inbound|9080||")
    labels = sample(http(properties), workloads=SNAPSHOT).labels
    assert labels["reporter"] == "destination"
    assert (labels["source_workload"], labels["source_workload_namespace"]) == ("ratings", "shop")
    assert labels["source_cluster"] == "Kubernetes"  # the reporting proxy's
    assert labels["source_principal"] == "unknown"  # no certificate: not the pod's identity


def test_a_caller_with_peer_metadata() -> None:
    properties = common(
        local=(OWN_IP, 9080),
        remote=("10.0.0.7", 5555),
        cluster="inbound|9080||",
        filter_state_objects=FrozenMap({"downstream_peer": REVIEWS_PEER}),
    )
    labels = sample(http(properties), workloads=SNAPSHOT).labels
    # the metadata wins over the snapshot's pod at the caller's IP
    assert (labels["source_workload"], labels["source_cluster"]) == ("reviews-v2", "east")
    assert labels["source_canonical_revision"] == "v2"


WAYPOINT_CALL = common(
    local=("10.0.0.50", 15008),
    remote=("10.0.0.7", 5555),
    cluster="inbound-vip|9080|http|reviews.shop.svc.cluster.local",
)


def test_a_waypoints_unknown_endpoint() -> None:
    labels = sample(http(WAYPOINT_CALL), role=Role.WAYPOINT).labels
    assert [labels[f"destination_{name}"] for name in ("workload", "workload_namespace")] == [
        "unknown"
    ] * 2
    assert labels["destination_principal"] == "unknown"
    assert labels["destination_canonical_revision"] == "unknown"  # not latest, as Istio
    assert labels["source_canonical_revision"] == "latest"


def test_a_waypoints_endpoint_from_the_snapshot() -> None:
    labels = sample(http(WAYPOINT_CALL), role=Role.WAYPOINT, workloads=SNAPSHOT).labels
    assert labels["destination_workload"] == "reviews-v3"
    assert labels["destination_workload_namespace"] == "shop"
    assert labels["destination_canonical_revision"] == "v3"
    assert labels["destination_cluster"] == "Kubernetes"  # the reporting proxy's
    # workload discovery's identity: no service account in the snapshot, so "default"
    assert labels["destination_principal"] == "spiffe://cluster.local/ns/shop/sa/default"
    assert labels["source_workload"] == "ratings"


def test_a_gateway_entry_without_a_caller_address() -> None:
    properties = attrs.evolve(common(), downstream_remote_address=None)
    labels = sample(http(properties), role=Role.PROXY).labels
    assert (labels["reporter"], labels["source_workload"]) == ("source", "productpage-v1")
    assert labels["destination_service"] == "reviews.shop.svc.cluster.local"


def endpoints(name: str, port: int) -> dict[str, object]:
    return {
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": "default"},
        "subsets": [{"addresses": [{"ip": OWN_IP}], "ports": [{"port": port}]}],
    }


@pytest.mark.parametrize(
    ("domain", "service"),
    [
        ("example.org", "productpage.default.svc.example.org"),
        (None, "productpage.default.svc.cluster.local"),  # the node id did not say
    ],
)
def test_an_inbound_clusters_service_from_the_snapshot(domain: str | None, service: str) -> None:
    # Two Services list the local pod: the one on the cluster's port (9080), not the first.
    own_pod = {
        "kind": "Pod",
        "metadata": {"name": "productpage-v1", "namespace": "default"},
        "status": {"podIP": OWN_IP},
    }
    items = [own_pod, endpoints("admin", 15020), endpoints("productpage", 9080)]
    workloads = KubernetesWorkloads({"kind": "List", "items": items})
    properties = common(local=(OWN_IP, 9080), remote=("10.0.0.7", 5555), cluster="inbound|9080||")
    labels = sample(http(properties), workloads=workloads, domain=domain).labels
    assert labels["destination_service"] == service
    assert labels["destination_service_name"] == "productpage"


@pytest.mark.parametrize(
    ("content_type", "protocol"),
    [
        ("application/grpc", "grpc"),
        ("application/grpc+proto", "grpc"),
        (" Application/GRPC+JSON ", "grpc"),
        ("application/grpc-web", "http"),
        ("application/grpc-web+proto", "http"),
        ("application/grpcx", "http"),
        ("application/json", "http"),
    ],
)
def test_the_content_type_decides_grpc(content_type: str, protocol: str) -> None:
    entry = http(common(), headers={"content-type": content_type})
    assert sample(entry).labels["request_protocol"] == protocol


def test_an_entry_without_request_or_response() -> None:
    found = sample(HttpEntry(common_properties=common()))
    assert found.labels["request_protocol"] == "http"  # no content-type: meshals' inference
    assert found.labels["response_code"] == "0"
    assert found.labels["destination_service"] == "reviews.shop.svc.cluster.local"
    assert found.tcp is False


@pytest.mark.parametrize(
    ("certificate", "san"),
    [
        (CertificateProperties(subject_alt_name=(SubjectAltName(dns="x.example"),)), None),
        (CertificateProperties(), None),
        (None, None),
        (
            CertificateProperties(
                subject_alt_name=(SubjectAltName(uri=PEER_SAN), SubjectAltName(uri=LOCAL_SAN))
            ),
            PEER_SAN,
        ),
    ],
)
def test_first_uri_san(certificate: CertificateProperties | None, san: str | None) -> None:
    assert first_uri_san(certificate) == san
