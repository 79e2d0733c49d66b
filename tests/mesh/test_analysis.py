"""analyze(): the rules per role, the status/protocol/TLS rules, and the accounting by reason."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest

from meshals import (
    AccessLogCommon,
    AlsMessage,
    Diagnostic,
    DiagnosticKind,
    HttpEntry,
    HttpRequest,
    HttpResponse,
    Identifier,
    Location,
    LogEntry,
    Node,
    Role,
    StreamError,
    TcpEntry,
)
from meshals._values import FrozenMap
from meshals.mesh._accounting import Accounting, SkipReason
from meshals.mesh._addresses import Endpoint, endpoint_of, node_ips
from meshals.mesh._analysis import analyze
from meshals.mesh._builder import method_name
from meshals.mesh._k8s_mesh import is_intermediate
from meshals.mesh._roles import default_role_rule, fixed_role
from meshals.mesh._status import TCP_FAILURE_FLAGS, grpc_status_of, protocol_of, status_of
from meshals.mesh._tls import local_identity_of, peer_identity_of, tls_mode_of
from meshals.model import (
    AccessLogType,
    Address,
    CertificateProperties,
    ConnectionEvent,
    ConnectionProperties,
    Direction,
    EnvoyInternalAddress,
    HttpVersion,
    JsonValue,
    L4Address,
    L4Connection,
    L4Peer,
    PipeAddress,
    RequestMethod,
    ResponseFlag,
    SocketAddress,
    SubjectAltName,
    TlsProperties,
)
from meshals.model._metrics import DetectPoint, MeshProtocol, ServiceMeshMetric, TlsMode
from meshals.model._service import UNKNOWN, ServiceMetaInfo


class DictResolver:
    """A resolver for tests: ``ip:port`` keys first, then ``ip``; records every question."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.questions: list[tuple[str, int | None]] = []

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        self.questions.append((ip, port))
        name = self.table.get(f"{ip}:{port}", self.table.get(ip))
        return None if name is None else _service(name)


def _service(name: str) -> ServiceMetaInfo:
    return ServiceMetaInfo(service=name, instance=f"{name}-1")


def _addr(ip: str, port: int | None = 0) -> SocketAddress:
    return SocketAddress(address=ip, port=port)


GATEWAY_IP, PRODUCTPAGE_IP, REVIEWS_IP, REVIEWS_VIP, OUTSIDE_IP = (
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.96.0.3",
    "203.0.113.9",
)
RESOLVER_TABLE = {
    GATEWAY_IP: "gateway",
    PRODUCTPAGE_IP: "productpage",
    REVIEWS_IP: "reviews",
    f"{REVIEWS_VIP}:9080": "reviews-vip",
}
GATEWAY_NODE = Node(id=f"router~{GATEWAY_IP}~gw-1.istio-system~istio-system.svc.cluster.local")
PRODUCTPAGE_NODE = Node(id=f"sidecar~{PRODUCTPAGE_IP}~pp-1.default~default.svc.cluster.local")
WAYPOINT_NODE = Node(id="waypoint~10.0.0.8~waypoint-1.default~default.svc.cluster.local")

GATEWAY = _service("gateway")
PRODUCTPAGE = _service("productpage")
REVIEWS = _service("reviews")


def _common(
    *,
    remote: Address | None = None,
    direct: Address | None = None,
    local: Address | None = None,
    upstream: Address | None = None,
    cluster: str = "",
    **changes: object,
) -> AccessLogCommon:
    common = AccessLogCommon(
        downstream_remote_address=remote,
        downstream_direct_remote_address=direct,
        downstream_local_address=local,
        upstream_remote_address=upstream,
        upstream_cluster=cluster,
        start_time_ns=1_000_000_000_000,
        time_to_last_downstream_tx_byte_ns=7_000_000,
    )
    return attrs.evolve(common, **changes)  # type: ignore[arg-type]


def _http(common: AccessLogCommon | None, *, code: int | None = 200, path: str = "/") -> HttpEntry:
    return HttpEntry(
        common_properties=common,
        protocol_version=HttpVersion.HTTP11,
        request=HttpRequest(request_method=RequestMethod.GET, scheme="http", path=path),
        response=HttpResponse(response_code=code),
    )


def _stream(node: Node | None, *entries: LogEntry, kind: str = "http") -> list[AlsMessage]:
    identifier = None if node is None else Identifier(node=node)
    return [AlsMessage(identifier=identifier, kind=kind, entries=entries, index=0)]  # type: ignore[arg-type]


def _run(
    messages: object, **options: object
) -> tuple[list[ServiceMeshMetric], Accounting, tuple[Diagnostic, ...]]:
    analysis = analyze(messages, resolver=DictResolver(RESOLVER_TABLE), **options)  # type: ignore[arg-type]
    metrics = analysis.metrics()
    return metrics, analysis.accounting, analysis.diagnostics


def _summary(metric: ServiceMeshMetric) -> tuple[str, str, str]:
    return (metric.detect_point.value, metric.source.service, metric.destination.service)


# --- rule tables -----------------------------------------------------------------------------

ROLE_RULE_CASES = [
    (Identifier(node=GATEWAY_NODE), Role.PROXY),
    (Identifier(node=Node(id="ingress~10.0.0.1~gw.ns~ns")), Role.PROXY),
    (Identifier(node=PRODUCTPAGE_NODE), Role.SIDECAR),
    (Identifier(node=WAYPOINT_NODE), Role.WAYPOINT),
    (Identifier(node=Node(id="envoy-gateway-abc")), Role.NONE),
    (Identifier(node=Node(id="")), Role.NONE),
    (Identifier(), Role.NONE),
]


@pytest.mark.parametrize(("identifier", "role"), ROLE_RULE_CASES)
def test_default_role_rule(identifier: Identifier, role: Role) -> None:
    assert default_role_rule(identifier) is role


@pytest.mark.parametrize("role", list(Role))
def test_fixed_role(role: Role) -> None:
    assert fixed_role(role)(Identifier(node=PRODUCTPAGE_NODE)) is role


UF = ResponseFlag.UPSTREAM_CONNECTION_FAILURE
# (protocol, detect point, response code, grpc status, flags, success)
STATUS_CASES = [
    (MeshProtocol.HTTP, DetectPoint.CLIENT, 100, None, frozenset(), True),
    (MeshProtocol.HTTP, DetectPoint.CLIENT, 200, None, frozenset(), True),
    (MeshProtocol.HTTP, DetectPoint.CLIENT, 304, None, frozenset(), True),
    (MeshProtocol.HTTP, DetectPoint.CLIENT, 399, None, frozenset(), True),
    (MeshProtocol.HTTP, DetectPoint.CLIENT, 400, None, frozenset(), False),
    (MeshProtocol.HTTP, DetectPoint.SERVER, 400, None, frozenset(), True),
    (MeshProtocol.HTTP, DetectPoint.CLIENT, 404, None, frozenset(), False),
    (MeshProtocol.HTTP, DetectPoint.SERVER, 499, None, frozenset(), True),
    (MeshProtocol.HTTP, DetectPoint.SERVER, 500, None, frozenset(), False),
    (MeshProtocol.HTTP, DetectPoint.CLIENT, 503, None, frozenset({UF}), False),
    (MeshProtocol.HTTP, DetectPoint.SERVER, 599, None, frozenset(), False),
    (MeshProtocol.HTTP, DetectPoint.SERVER, None, None, frozenset(), False),  # reset
    (MeshProtocol.HTTP, DetectPoint.CLIENT, None, None, frozenset(), False),
    (MeshProtocol.HTTP, DetectPoint.SERVER, 0, None, frozenset(), False),
    (MeshProtocol.HTTP, DetectPoint.SERVER, 99, None, frozenset(), False),
    (MeshProtocol.HTTP, DetectPoint.SERVER, 600, None, frozenset(), False),
    (MeshProtocol.HTTP, DetectPoint.SERVER, 200, None, frozenset({UF}), True),  # flags: TCP only
    (MeshProtocol.GRPC, DetectPoint.CLIENT, 200, 0, frozenset(), True),
    (MeshProtocol.GRPC, DetectPoint.CLIENT, 200, 5, frozenset(), False),
    (MeshProtocol.GRPC, DetectPoint.SERVER, 200, 14, frozenset(), False),
    (MeshProtocol.GRPC, DetectPoint.SERVER, 200, None, frozenset(), True),
    (MeshProtocol.GRPC, DetectPoint.CLIENT, 503, None, frozenset(), False),
    (MeshProtocol.GRPC, DetectPoint.CLIENT, None, None, frozenset(), False),
    (MeshProtocol.TCP, DetectPoint.CLIENT, None, None, frozenset(), True),
    (MeshProtocol.TCP, DetectPoint.SERVER, None, None, frozenset(), True),
    (MeshProtocol.TCP, DetectPoint.CLIENT, None, None, frozenset({UF}), False),
    (
        MeshProtocol.TCP,
        DetectPoint.CLIENT,
        None,
        None,
        frozenset({ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION}),
        True,
    ),
    (
        MeshProtocol.TCP,
        DetectPoint.CLIENT,
        None,
        None,
        frozenset({ResponseFlag.UPSTREAM_CONNECTION_TERMINATION}),
        True,
    ),
]


@pytest.mark.parametrize(
    ("protocol", "detect_point", "code", "grpc", "flags", "success"), STATUS_CASES
)
def test_status_rule(  # noqa: PLR0917
    protocol: MeshProtocol,
    detect_point: DetectPoint,
    code: int | None,
    grpc: int | None,
    flags: frozenset[ResponseFlag],
    success: bool,
) -> None:
    assert (
        status_of(
            protocol, detect_point, response_code=code, grpc_status=grpc, response_flags=flags
        )
        is success
    )


TCP_FAILURE_CODES = [
    "LH",
    "UH",
    "UT",
    "UF",
    "UO",
    "NR",
    "RL",
    "UAEX",
    "URX",
    "UPE",
    "NC",
    "OM",
    "DF",
]


def test_tcp_failure_flags() -> None:
    assert sorted(flag.short_code for flag in TCP_FAILURE_FLAGS) == sorted(TCP_FAILURE_CODES)


@pytest.mark.parametrize("flag", list(ResponseFlag))
def test_tcp_status_per_flag(flag: ResponseFlag) -> None:
    success = status_of(MeshProtocol.TCP, DetectPoint.CLIENT, response_flags=frozenset({flag}))
    assert success is (flag.short_code not in TCP_FAILURE_CODES)


def _grpc_entry(
    *,
    version: HttpVersion = HttpVersion.HTTP2,
    method: RequestMethod = RequestMethod.POST,
    path: str = "/bookinfo.ratings.v1.Ratings/GetRating",
    request_headers: dict[str, str] | None = None,
    response_headers: dict[str, str] | None = None,
    trailers: dict[str, str] | None = None,
    no_response: bool = False,
) -> HttpEntry:
    return HttpEntry(
        protocol_version=version,
        request=HttpRequest(
            request_method=method,
            scheme="http",
            path=path,
            request_headers=FrozenMap(request_headers or {}),
        ),
        response=None
        if no_response
        else HttpResponse(
            response_code=200,
            response_headers=FrozenMap(response_headers or {}),
            response_trailers=FrozenMap(trailers or {}),
        ),
    )


GRPC, HTTP = MeshProtocol.GRPC, MeshProtocol.HTTP
# (entry, protocol, grpc status)
PROTOCOL_CASES = [
    # The path shape decides only when no header was logged.
    (_grpc_entry(), GRPC, None),
    (_grpc_entry(path="/ratings.Ratings/Get"), GRPC, None),
    (_grpc_entry(path="/Ratings/GetRating"), HTTP, None),  # no package
    (_grpc_entry(path="/bookinfo.ratings.v1.Ratings/GetRating/extra"), HTTP, None),
    (_grpc_entry(path="/bookinfo.ratings.v1.Ratings/GetRating?x=1"), HTTP, None),
    (_grpc_entry(version=HttpVersion.HTTP11), HTTP, None),
    (_grpc_entry(version=HttpVersion.HTTP3), HTTP, None),
    (_grpc_entry(method=RequestMethod.GET), HTTP, None),
    (_grpc_entry(no_response=True), GRPC, None),
    # Headers and trailers, whatever the path or version.
    (_grpc_entry(request_headers={"content-type": "application/grpc"}), GRPC, None),
    (
        _grpc_entry(
            version=HttpVersion.HTTP11,
            path="/x",
            request_headers={"content-type": "application/grpc-web+proto"},
        ),
        GRPC,
        None,
    ),
    (_grpc_entry(request_headers={"Content-Type": "Application/GRPC+proto"}), GRPC, None),
    (_grpc_entry(request_headers={"content-type": "application/json"}), HTTP, None),
    (_grpc_entry(trailers={"grpc-status": "0", "grpc-message": ""}), GRPC, 0),
    (_grpc_entry(trailers={"grpc-status": "5"}), GRPC, 5),
    (_grpc_entry(response_headers={"grpc-status": "14"}), GRPC, 14),  # trailers-only
    (_grpc_entry(response_headers={"grpc-status": "1"}, trailers={"grpc-status": "2"}), GRPC, 2),
    (_grpc_entry(path="/x", trailers={"grpc-status": " 3 "}), GRPC, 3),
    (_grpc_entry(path="/x", trailers={"grpc-status": "ok"}), GRPC, None),
    (_grpc_entry(path="/x", trailers={"grpc-status": "-1"}), GRPC, None),
    (
        _grpc_entry(
            request_headers={"content-type": "application/json"}, trailers={"grpc-status": "0"}
        ),
        GRPC,
        0,
    ),
    (HttpEntry(), HTTP, None),
]


@pytest.mark.parametrize(("entry", "protocol", "grpc_status"), PROTOCOL_CASES)
def test_protocol_rule(entry: HttpEntry, protocol: MeshProtocol, grpc_status: int | None) -> None:
    assert protocol_of(entry) is protocol
    assert grpc_status_of(entry) == grpc_status


def _certificate(
    subject: str = "", uris: tuple[str, ...] = (), dns: str = ""
) -> CertificateProperties:
    sans = tuple(SubjectAltName(uri=uri) for uri in uris)
    if dns:
        sans += (SubjectAltName(dns=dns),)
    return CertificateProperties(subject=subject, subject_alt_name=sans)


SPIFFE = "spiffe://cluster.local/ns/default/sa/productpage"
GATEWAY_SPIFFE = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway"
# (tls properties, mode, peer identity)
TLS_CASES = [
    (None, TlsMode.NONE, None),
    (TlsProperties(), TlsMode.NONE, None),
    (TlsProperties(local_certificate_properties=_certificate()), TlsMode.NONE, None),
    (
        TlsProperties(peer_certificate_properties=_certificate(uris=(SPIFFE,))),
        TlsMode.NONE,
        SPIFFE,
    ),
    (TlsProperties(local_certificate_properties=_certificate("CN=gw")), TlsMode.TLS, None),
    (
        TlsProperties(
            local_certificate_properties=_certificate(dns="gw.example.com"),
            peer_certificate_properties=_certificate(),
        ),
        TlsMode.TLS,
        None,
    ),
    (
        TlsProperties(
            local_certificate_properties=_certificate(uris=("spiffe://cluster.local/ns/a/sa/b",)),
            peer_certificate_properties=_certificate(uris=(SPIFFE,)),
        ),
        TlsMode.MTLS,
        SPIFFE,
    ),
    (
        TlsProperties(
            local_certificate_properties=_certificate("CN=a"),
            peer_certificate_properties=_certificate(uris=("urn:x", SPIFFE)),
        ),
        TlsMode.MTLS,
        SPIFFE,
    ),
    (
        TlsProperties(
            local_certificate_properties=_certificate("CN=a"),
            peer_certificate_properties=_certificate("CN=client", uris=("urn:x",)),
        ),
        TlsMode.MTLS,
        "urn:x",
    ),
    (
        TlsProperties(
            local_certificate_properties=_certificate("CN=a"),
            peer_certificate_properties=_certificate("CN=client", dns="client.example.com"),
        ),
        TlsMode.MTLS,
        None,
    ),
]


@pytest.mark.parametrize(("tls", "mode", "identity"), TLS_CASES)
def test_tls_rule(tls: TlsProperties | None, mode: TlsMode, identity: str | None) -> None:
    assert tls_mode_of(tls) is mode
    assert peer_identity_of(tls) == identity
    # The same choice on the other certificate: swap them and the local identity is the peer's.
    swapped = None
    if tls is not None:
        swapped = attrs.evolve(
            tls,
            local_certificate_properties=tls.peer_certificate_properties,
            peer_certificate_properties=tls.local_certificate_properties,
        )
    assert local_identity_of(swapped) == identity


INTERMEDIATE_CASES = [
    (AccessLogCommon(), False),
    (AccessLogCommon(intermediate_log_entry=True), True),
    (AccessLogCommon(access_log_type=AccessLogType.DownstreamEnd), False),
    (AccessLogCommon(access_log_type=AccessLogType.UpstreamEnd), False),
    (AccessLogCommon(access_log_type=AccessLogType.TcpConnectionEnd), False),
    (AccessLogCommon(access_log_type=AccessLogType.UdpSessionEnd), False),
    (AccessLogCommon(access_log_type=99), False),
    (AccessLogCommon(access_log_type=AccessLogType.TcpUpstreamConnected), True),
    (AccessLogCommon(access_log_type=AccessLogType.TcpPeriodic), True),
    (AccessLogCommon(access_log_type=AccessLogType.DownstreamStart), True),
    (AccessLogCommon(access_log_type=AccessLogType.DownstreamPeriodic), True),
    (AccessLogCommon(access_log_type=AccessLogType.UpstreamPoolReady), True),
    (AccessLogCommon(access_log_type=AccessLogType.UpstreamPeriodic), True),
    (
        AccessLogCommon(access_log_type=AccessLogType.DownstreamTunnelSuccessfullyEstablished),
        True,
    ),
    (AccessLogCommon(access_log_type=AccessLogType.UdpTunnelUpstreamConnected), True),
    (AccessLogCommon(access_log_type=AccessLogType.UdpPeriodic), True),
]


@pytest.mark.parametrize(("common", "intermediate"), INTERMEDIATE_CASES)
def test_intermediate_entries(common: AccessLogCommon, intermediate: bool) -> None:
    assert is_intermediate(common) is intermediate


ENDPOINT_CASES: list[tuple[Address | None, Endpoint | None]] = [
    (None, None),
    (_addr("10.0.0.1", 80), Endpoint("10.0.0.1", 80)),
    (SocketAddress(address="10.0.0.1", named_port="http"), Endpoint("10.0.0.1", None)),
    (SocketAddress(address="", port=80), None),
    (SocketAddress(address="reviews.default", port=80), Endpoint("reviews.default", 80)),
    (PipeAddress(path="/tmp/envoy.sock"), None),
    (
        EnvoyInternalAddress(server_listener_name="connect_originate", endpoint_id="10.0.0.3:9080"),
        Endpoint("10.0.0.3", 9080),
    ),
    (EnvoyInternalAddress(endpoint_id="[fd00::3]:9080"), Endpoint("fd00::3", 9080)),
    (EnvoyInternalAddress(server_listener_name="main_internal"), None),
    (EnvoyInternalAddress(endpoint_id="reviews:9080"), None),
    (EnvoyInternalAddress(endpoint_id="10.0.0.3"), None),
    (EnvoyInternalAddress(endpoint_id="10.0.0.3:99999"), None),
]


@pytest.mark.parametrize(("address", "endpoint"), ENDPOINT_CASES)
def test_endpoint_of(address: Address | None, endpoint: Endpoint | None) -> None:
    assert endpoint_of(address) == endpoint


NODE_IP_CASES: list[tuple[Node | None, tuple[str, ...]]] = [
    (None, ()),
    (Node(), ()),
    (PRODUCTPAGE_NODE, (PRODUCTPAGE_IP,)),
    (Node(id="sidecar~~pp.default~default.svc"), ()),
    (Node(id="plain-envoy"), ()),
    (
        Node(
            id="sidecar~10.0.0.2~pp~d",
            metadata=FrozenMap({"INSTANCE_IPS": "10.0.0.2,fd00:0::2, 10.0.0.22,bogus"}),
        ),
        ("10.0.0.2", "fd00::2", "10.0.0.22"),
    ),
    (
        Node(id="gw", metadata=FrozenMap({"ISTIO_META_INSTANCE_IPS": "10.44.2.56"})),
        ("10.44.2.56",),
    ),
    (Node(id="gw", metadata=FrozenMap({"INSTANCE_IPS": 5.0})), ()),
]


@pytest.mark.parametrize(("node", "ips"), NODE_IP_CASES)
def test_node_ips(node: Node | None, ips: tuple[str, ...]) -> None:
    assert node_ips(node) == ips


# --- gateways and waypoints ------------------------------------------------------------------


def test_gateway_entry_gives_server_and_client_metrics() -> None:
    entry = _http(
        _common(
            remote=_addr(OUTSIDE_IP, 5555),
            local=_addr(GATEWAY_IP, 8080),
            upstream=_addr(PRODUCTPAGE_IP, 9080),
            cluster="outbound|9080||productpage.default.svc.cluster.local",
            tls_properties=TlsProperties(
                local_certificate_properties=_certificate("CN=gw", uris=(GATEWAY_SPIFFE,)),
                peer_certificate_properties=_certificate(uris=(SPIFFE,)),
            ),
        )
    )
    metrics, accounting, _ = _run(_stream(GATEWAY_NODE, entry))
    server, client = metrics
    assert (server.detect_point, server.source, server.destination) == (
        DetectPoint.SERVER,
        UNKNOWN,
        GATEWAY,
    )
    assert (client.detect_point, client.source, client.destination) == (
        DetectPoint.CLIENT,
        GATEWAY,
        PRODUCTPAGE,
    )
    # The downstream connection's TLS is the server side's; the client side's is not logged.
    assert (server.tls_mode, server.peer_identity, server.local_identity) == (
        TlsMode.MTLS,
        SPIFFE,
        GATEWAY_SPIFFE,
    )
    assert (client.tls_mode, client.peer_identity, client.local_identity) == (
        TlsMode.NONE,
        None,
        None,
    )
    assert {server.role, client.role} == {Role.PROXY}
    assert accounting == Accounting(streams=1, messages=1, entries_in=1, analyzed=1, metrics_out=2)


@pytest.mark.parametrize(
    ("flag", "code"),
    [
        (ResponseFlag.NO_HEALTHY_UPSTREAM, 503),
        (ResponseFlag.NO_ROUTE_FOUND, 404),
        (ResponseFlag.NO_CLUSTER_FOUND, 503),
    ],
)
def test_gateway_entry_without_upstream_still_gives_server_metric(
    flag: ResponseFlag, code: int
) -> None:
    entry = _http(
        _common(
            remote=_addr(OUTSIDE_IP), local=_addr(GATEWAY_IP), response_flags=frozenset({flag})
        ),
        code=code,
    )
    metrics, accounting, _ = _run(_stream(GATEWAY_NODE, entry))
    assert [_summary(metric) for metric in metrics] == [("server", "UNKNOWN", "gateway")]
    assert metrics[0].response_flags == frozenset({flag})
    assert accounting.analyzed == 1


def test_gateway_named_by_node_ip_when_local_address_is_not_an_ip() -> None:
    entry = _http(
        _common(
            remote=_addr(OUTSIDE_IP),
            local=PipeAddress(path="/run/gw.sock"),
            upstream=_addr(REVIEWS_IP),
        )
    )
    metrics, _, _ = _run(_stream(GATEWAY_NODE, entry))
    assert [_summary(metric) for metric in metrics] == [
        ("server", "UNKNOWN", "gateway"),
        ("client", "gateway", "reviews"),
    ]


def test_gateway_without_any_own_address_is_skipped() -> None:
    entry = _http(_common(remote=_addr(OUTSIDE_IP), upstream=_addr(REVIEWS_IP)))
    metrics, accounting, _ = _run(_stream(Node(id="router~~gw~ns"), entry))
    assert metrics == []
    assert accounting.skipped == {SkipReason.NO_LOCAL_ADDRESS: 1}


def test_waypoint_is_analysed_like_a_gateway_through_internal_addresses() -> None:
    entry = _http(
        _common(
            remote=_addr(PRODUCTPAGE_IP, 40000),
            local=EnvoyInternalAddress(server_listener_name="main_internal"),
            upstream=EnvoyInternalAddress(
                server_listener_name="connect_originate", endpoint_id=f"{REVIEWS_IP}:9080"
            ),
            cluster="inbound-vip|9080|http|reviews.default.svc.cluster.local",
        )
    )
    resolver = DictResolver({**RESOLVER_TABLE, "10.0.0.8": "waypoint"})
    metrics = analyze(_stream(WAYPOINT_NODE, entry), resolver=resolver).metrics()
    assert [(_summary(metric), metric.role) for metric in metrics] == [
        (("server", "productpage", "waypoint"), Role.WAYPOINT),
        (("client", "waypoint", "reviews"), Role.WAYPOINT),
    ]
    assert set(resolver.questions) == {
        (PRODUCTPAGE_IP, 40000),
        ("10.0.0.8", None),
        (REVIEWS_IP, 9080),
    }


@pytest.mark.parametrize(
    ("direct", "local", "skipped"),
    [
        # The caller named only by an internal address: no caller for SkyWalking.
        (
            EnvoyInternalAddress(endpoint_id=f"{PRODUCTPAGE_IP}:40000"),
            _addr("10.0.0.8", 15008),
            SkipReason.NO_SOURCE_ADDRESS,
        ),
        # The waypoint's own address an internal one: no local IP for SkyWalking.
        (
            _addr(PRODUCTPAGE_IP, 40000),
            EnvoyInternalAddress(endpoint_id="10.0.0.8:15008"),
            SkipReason.SKYWALKING_GATEWAY_WITHOUT_LOCAL_IP,
        ),
    ],
)
def test_skywalking_reads_socket_addresses_only(
    direct: Address, local: Address, skipped: SkipReason
) -> None:
    entry = _http(
        _common(
            direct=direct,
            local=local,
            upstream=_addr(REVIEWS_IP, 9080),
            cluster="inbound-vip|9080|http|reviews.default.svc.cluster.local",
        )
    )
    resolver = DictResolver({**RESOLVER_TABLE, "10.0.0.8": "waypoint"})
    analysis = analyze(_stream(WAYPOINT_NODE, entry), resolver=resolver, semantics="skywalking")
    assert analysis.metrics() == []
    assert analysis.accounting.skipped == {skipped: 1}
    # meshals reads the internal addresses' ip:port.
    metrics = analyze(_stream(WAYPOINT_NODE, entry), resolver=resolver).metrics()
    assert [_summary(metric) for metric in metrics] == [
        ("server", "productpage", "waypoint"),
        ("client", "waypoint", "reviews"),
    ]


def test_custom_role_rule_for_a_plain_envoy_gateway() -> None:
    entry = _http(
        _common(remote=_addr(OUTSIDE_IP), local=_addr(GATEWAY_IP), upstream=_addr(REVIEWS_IP))
    )
    messages = _stream(Node(id="front-envoy"), entry)
    assert _run(messages)[0] == []
    metrics, _, _ = _run(messages, role_rule=fixed_role(Role.PROXY))
    assert [_summary(metric) for metric in metrics] == [
        ("server", "UNKNOWN", "gateway"),
        ("client", "gateway", "reviews"),
    ]


# --- sidecars --------------------------------------------------------------------------------

# (cluster, local, upstream, expected (detect point, source, destination) or skip reason)
SIDECAR_CASES: list[
    tuple[str, Address | None, Address | None, tuple[str, str, str] | SkipReason]
] = [
    (
        "inbound|9080||",
        _addr(PRODUCTPAGE_IP, 9080),
        _addr(PRODUCTPAGE_IP, 19080),
        ("server", "reviews", "productpage"),
    ),
    (
        "inbound|9080|http|productpage.default.svc.cluster.local",
        _addr(PRODUCTPAGE_IP),
        _addr("127.0.0.1"),
        ("server", "reviews", "productpage"),
    ),
    ("inbound|9080||", _addr(PRODUCTPAGE_IP), None, ("server", "reviews", "productpage")),
    (
        "outbound|9080||reviews.default.svc.cluster.local",
        _addr(REVIEWS_VIP, 9080),
        _addr(REVIEWS_IP, 9080),
        ("client", "reviews", "reviews"),
    ),
    (
        "outbound_.9080_._.reviews.default.svc.cluster.local",
        _addr(REVIEWS_VIP, 9080),
        _addr(GATEWAY_IP, 9080),
        ("client", "reviews", "gateway"),
    ),
    # An outbound failure before a host was chosen: the peer is the address the app dialled.
    (
        "outbound|9080|v3|reviews.default.svc.cluster.local",
        _addr(REVIEWS_VIP, 9080),
        None,
        ("client", "reviews", "reviews-vip"),
    ),
    (
        "PassthroughCluster",
        _addr("198.51.100.7", 443),
        _addr("198.51.100.7", 443),
        ("client", "reviews", "PassthroughCluster"),
    ),
    (
        "BlackHoleCluster",
        _addr("198.51.100.7", 443),
        None,
        ("client", "reviews", "BlackHoleCluster"),
    ),
    (
        "InboundPassthroughClusterIpv4",
        _addr(PRODUCTPAGE_IP, 7777),
        _addr(PRODUCTPAGE_IP, 7777),
        ("server", "reviews", "productpage"),
    ),
    (
        "InboundPassthroughCluster",
        _addr(PRODUCTPAGE_IP, 7777),
        None,
        ("server", "reviews", "productpage"),
    ),
    # Empty (or foreign) cluster: the direction comes from the node's own IP.
    ("", _addr(PRODUCTPAGE_IP, 9080), None, ("server", "reviews", "productpage")),
    ("", _addr(REVIEWS_VIP, 9080), None, ("client", "reviews", "reviews-vip")),
    ("", _addr("10.96.0.99", 9080), None, ("client", "reviews", "UNKNOWN")),
    (
        "my-static-cluster",
        _addr(REVIEWS_VIP, 9080),
        _addr(REVIEWS_IP, 9080),
        ("client", "reviews", "reviews"),
    ),
    ("inbound|9080||", None, None, SkipReason.NO_LOCAL_ADDRESS),
    ("inbound|9080||", PipeAddress(path="/s"), None, SkipReason.NO_LOCAL_ADDRESS),
]


@pytest.mark.parametrize(("cluster", "local", "upstream", "expected"), SIDECAR_CASES)
def test_sidecar_entry(
    cluster: str,
    local: Address | None,
    upstream: Address | None,
    expected: tuple[str, str, str] | SkipReason,
) -> None:
    entry = _http(
        _common(remote=_addr(REVIEWS_IP), local=local, upstream=upstream, cluster=cluster)
    )
    metrics, accounting, _ = _run(_stream(PRODUCTPAGE_NODE, entry))
    if isinstance(expected, SkipReason):
        assert (metrics, dict(accounting.skipped)) == ([], {expected: 1})
    else:
        assert [_summary(metric) for metric in metrics] == [expected]
        assert metrics[0].role is Role.SIDECAR
        assert accounting.analyzed == 1


# (caller, downstream local, expected): empty cluster, the direction from stronger evidence.
CAPTURE_CASES: list[tuple[SocketAddress, SocketAddress, tuple[str, str, str] | SkipReason]] = [
    # Istio's outbound capture listener: the application's own call, whose peer is unknown.
    (_addr(PRODUCTPAGE_IP, 42421), _addr(PRODUCTPAGE_IP, 15001),
     ("client", "productpage", "UNKNOWN")),
    (_addr(REVIEWS_IP), _addr(REVIEWS_VIP, 15001), ("client", "reviews", "UNKNOWN")),
    # The inbound capture listener: a call into the workload.
    (_addr(REVIEWS_IP), _addr(PRODUCTPAGE_IP, 15006), ("server", "reviews", "productpage")),
    (_addr(PRODUCTPAGE_IP, 42421), _addr(PRODUCTPAGE_IP, 15006),
     ("server", "productpage", "productpage")),
    # Caller and local address both the node's own, on no capture port: undecidable.
    (_addr(PRODUCTPAGE_IP, 42421), _addr(PRODUCTPAGE_IP, 9080), SkipReason.UNKNOWN_DIRECTION),
    (_addr(PRODUCTPAGE_IP, 42421), _addr(REVIEWS_VIP, 9080),
     ("client", "productpage", "reviews-vip")),
    (_addr(REVIEWS_IP), _addr(PRODUCTPAGE_IP, 9080), ("server", "reviews", "productpage")),
]  # fmt: skip


@pytest.mark.parametrize(("caller", "local", "expected"), CAPTURE_CASES)
def test_sidecar_empty_cluster_capture_ports_and_own_calls(
    caller: SocketAddress, local: SocketAddress, expected: tuple[str, str, str] | SkipReason
) -> None:
    entry = _http(_common(remote=caller, local=local, cluster=""), code=502)
    metrics, accounting, _ = _run(_stream(PRODUCTPAGE_NODE, entry))
    if isinstance(expected, SkipReason):
        assert (metrics, dict(accounting.skipped)) == ([], {expected: 1})
    else:
        assert [_summary(metric) for metric in metrics] == [expected]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"INSTANCE_IPS": "10.0.0.2"}, ("server", "reviews", "productpage")),
        ({"INSTANCE_IPS": "10.0.0.99"}, ("client", "reviews", "productpage")),
        ({}, None),
    ],
)
def test_sidecar_empty_cluster_direction_from_instance_ips(
    metadata: dict[str, str], expected: tuple[str, str, str] | None
) -> None:
    node = Node(id="sidecar~~pp-1.default~default.svc.cluster.local", metadata=FrozenMap(metadata))
    entry = _http(_common(remote=_addr(REVIEWS_IP), local=_addr(PRODUCTPAGE_IP, 9080)))
    metrics, accounting, _ = _run(_stream(node, entry))
    if expected is None:
        assert (metrics, dict(accounting.skipped)) == ([], {SkipReason.UNKNOWN_DIRECTION: 1})
    else:
        assert [_summary(metric) for metric in metrics] == [expected]


# (remote, direct remote, source service or skip)
SOURCE_ADDRESS_CASES: list[tuple[Address | None, Address | None, str | SkipReason]] = [
    (_addr(REVIEWS_IP), None, "reviews"),
    (_addr(OUTSIDE_IP), _addr(REVIEWS_IP), "reviews"),  # the direct (TCP) peer wins
    (_addr(REVIEWS_IP), _addr(OUTSIDE_IP), "UNKNOWN"),
    (_addr(REVIEWS_IP), PipeAddress(path="/s"), "reviews"),  # a direct peer with no IP
    (_addr(REVIEWS_IP), SocketAddress(address=""), "reviews"),
    (None, None, SkipReason.NO_SOURCE_ADDRESS),
    (PipeAddress(path="/s"), None, SkipReason.NO_SOURCE_ADDRESS),
    (SocketAddress(address=""), SocketAddress(address=""), SkipReason.NO_SOURCE_ADDRESS),
]


@pytest.mark.parametrize(("remote", "direct", "expected"), SOURCE_ADDRESS_CASES)
def test_source_address(
    remote: Address | None, direct: Address | None, expected: str | SkipReason
) -> None:
    entry = _http(
        _common(remote=remote, direct=direct, local=_addr(PRODUCTPAGE_IP), cluster="inbound|9080||")
    )
    metrics, accounting, _ = _run(_stream(PRODUCTPAGE_NODE, entry))
    if isinstance(expected, SkipReason):
        assert (metrics, dict(accounting.skipped)) == ([], {expected: 1})
    else:
        assert [metric.source.service for metric in metrics] == [expected]


def test_unknown_peers_are_unknown_on_every_path() -> None:
    nobody = _addr("192.0.2.1", 1)
    entries = [
        _http(_common(remote=nobody, local=nobody, upstream=nobody, cluster=cluster))
        for cluster in ("inbound|9080||", "outbound|9080||x", "")
    ]
    sidecar_metrics, _, _ = _run(_stream(PRODUCTPAGE_NODE, *entries))
    gateway_metrics, _, _ = _run(_stream(GATEWAY_NODE, entries[0]))
    for metric in sidecar_metrics + gateway_metrics:
        assert (metric.source, metric.destination) == (UNKNOWN, UNKNOWN)
    assert len(sidecar_metrics) + len(gateway_metrics) == 5


def test_resolver_is_asked_with_ip_and_port() -> None:
    resolver = DictResolver(RESOLVER_TABLE)
    entry = _http(
        _common(
            remote=_addr(REVIEWS_IP, 41000),
            local=SocketAddress(address=PRODUCTPAGE_IP, named_port="http"),
            cluster="inbound|9080||",
        )
    )
    analyze(_stream(PRODUCTPAGE_NODE, entry), resolver=resolver).metrics()
    assert set(resolver.questions) == {(REVIEWS_IP, 41000), (PRODUCTPAGE_IP, None)}


# --- HTTP and TCP values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint_query", "path", "endpoint"),
    [
        ("keep", "/reviews/0?user=jason", "GET:/reviews/0?user=jason"),
        ("strip", "/reviews/0?user=jason", "GET:/reviews/0"),
        ("strip", "/reviews/0", "GET:/reviews/0"),
        ("strip", "/?", "GET:/"),
        ("keep", "", "GET:"),
    ],
)
def test_endpoint(endpoint_query: str, path: str, endpoint: str) -> None:
    entry = _http(
        _common(remote=_addr(REVIEWS_IP), local=_addr(PRODUCTPAGE_IP), cluster="inbound|1||"),
        path=path,
    )
    metrics, _, _ = _run(_stream(PRODUCTPAGE_NODE, entry), endpoint_query=endpoint_query)
    assert [metric.endpoint for metric in metrics] == [endpoint]


@pytest.mark.parametrize(
    ("request_", "endpoint"),
    [
        (None, None),
        (HttpRequest(), "METHOD_UNSPECIFIED:"),
        (HttpRequest(request_method=RequestMethod.PATCH, path="/a"), "PATCH:/a"),
        (HttpRequest(request_method=42, path="/a"), "42:/a"),
    ],
)
def test_endpoint_method(request_: HttpRequest | None, endpoint: str | None) -> None:
    common = _common(remote=_addr(REVIEWS_IP), local=_addr(PRODUCTPAGE_IP), cluster="inbound|1||")
    entry = HttpEntry(common_properties=common, request=request_)
    metrics, _, _ = _run(_stream(PRODUCTPAGE_NODE, entry))
    assert [(metric.endpoint, metric.response_code, metric.status) for metric in metrics] == [
        (endpoint, None, False)
    ]
    # No request logged: no request size; no response: no response size.
    request_bytes = None if request_ is None else 0
    assert [(metric.request_bytes, metric.response_bytes) for metric in metrics] == [
        (request_bytes, None)
    ]


@pytest.mark.parametrize(
    ("method", "name"),
    [
        (RequestMethod.METHOD_UNSPECIFIED, "METHOD_UNSPECIFIED"),
        (RequestMethod.PATCH, "PATCH"),
        (42, "42"),
    ],
)
def test_method_name(method: RequestMethod | int, name: str) -> None:
    # The name the endpoints above and the policies' request facts spell a method by.
    assert method_name(method) == name


@pytest.mark.parametrize(
    ("request_id", "headers", "expected"),
    [
        (
            "5b3a9f1c-0d2e",
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            ("5b3a9f1c-0d2e", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ),
        ("", {"Traceparent": "00-ab-cd-01"}, (None, "00-ab-cd-01")),  # any case of the name
        ("", {}, (None, None)),  # Envoy logs an absent id as ""
    ],
)
def test_request_id_and_traceparent(
    request_id: str, headers: dict[str, str], expected: tuple[str | None, str | None]
) -> None:
    common = _common(remote=_addr(GATEWAY_IP), local=_addr(GATEWAY_IP), upstream=_addr(REVIEWS_IP))
    request = HttpRequest(
        request_method=RequestMethod.GET,
        path="/",
        request_id=request_id,
        request_headers=FrozenMap(headers),
    )
    entry = HttpEntry(common_properties=common, request=request)
    metrics, _, _ = _run(_stream(GATEWAY_NODE, entry))
    # Both of a gateway's metrics carry them.
    assert [(metric.request_id, metric.traceparent) for metric in metrics] == [expected] * 2


def test_invalid_endpoint_query() -> None:
    with pytest.raises(ValueError, match="endpoint_query must be 'keep' or 'strip', not 'drop'"):
        analyze([], resolver=DictResolver({}), endpoint_query="drop")  # type: ignore[arg-type]


def test_tcp_entry() -> None:
    entry = TcpEntry(
        common_properties=_common(
            remote=_addr(PRODUCTPAGE_IP),
            local=_addr(REVIEWS_VIP, 27017),
            upstream=_addr(REVIEWS_IP, 27017),
            cluster="outbound|27017||mongodb.default.svc.cluster.local",
            response_flags=frozenset({ResponseFlag.UPSTREAM_CONNECTION_FAILURE}),
        ),
        connection_properties=ConnectionProperties(received_bytes=64, sent_bytes=128),
    )
    metrics, _, _ = _run(_stream(PRODUCTPAGE_NODE, entry, kind="tcp"))
    (metric,) = metrics
    assert (metric.protocol, metric.detect_point, metric.source, metric.destination) == (
        MeshProtocol.TCP,
        DetectPoint.CLIENT,
        PRODUCTPAGE,
        REVIEWS,
    )
    assert (metric.received_bytes, metric.sent_bytes) == (64, 128)
    assert (metric.request_bytes, metric.response_bytes) == (None, None)  # HTTP bodies only
    assert (metric.endpoint, metric.response_code, metric.grpc_status) == (None, None, None)
    assert metric.status is False
    assert metric.internal_error_code == "upstream_connection_failure"


def test_tcp_entry_without_connection_properties() -> None:
    entry = TcpEntry(
        common_properties=_common(
            remote=_addr(PRODUCTPAGE_IP), local=_addr(REVIEWS_IP), cluster="inbound|27017||"
        )
    )
    metrics, _, _ = _run(_stream(PRODUCTPAGE_NODE, entry, kind="tcp"))
    assert [(metric.received_bytes, metric.sent_bytes, metric.status) for metric in metrics] == [
        (None, None, True)
    ]


def test_grpc_entry_values() -> None:
    common = _common(
        remote=_addr(REVIEWS_IP), local=_addr(PRODUCTPAGE_IP), cluster="inbound|9080||"
    )
    entry = attrs.evolve(_grpc_entry(trailers={"grpc-status": "5"}), common_properties=common)
    (metric,) = _run(_stream(PRODUCTPAGE_NODE, entry))[0]
    assert (metric.protocol, metric.grpc_status, metric.response_code, metric.status) == (
        MeshProtocol.GRPC,
        5,
        200,
        False,
    )
    assert metric.endpoint == "POST:/bookinfo.ratings.v1.Ratings/GetRating"


def test_origin() -> None:
    entry = _http(
        _common(remote=_addr(REVIEWS_IP), local=_addr(PRODUCTPAGE_IP), cluster="inbound|1||")
    )
    messages = [
        AlsMessage(identifier=Identifier(node=PRODUCTPAGE_NODE), source="pp.jsonl", index=0),
        AlsMessage(kind="http", entries=(entry, entry), source="pp.jsonl", index=1),
    ]
    metrics, _, _ = _run(messages)
    assert [
        (metric.origin.source, metric.origin.message_index, metric.origin.entry_index)
        for metric in metrics
    ] == [("pp.jsonl", 1, 0), ("pp.jsonl", 1, 1)]


# --- accounting --------------------------------------------------------------------------------

GOOD = _http(
    _common(remote=_addr(REVIEWS_IP), local=_addr(PRODUCTPAGE_IP), cluster="inbound|9080||")
)


def test_accounting_by_reason() -> None:
    periodic = _http(
        _common(
            remote=_addr(REVIEWS_IP),
            local=_addr(PRODUCTPAGE_IP),
            cluster="inbound|9080||",
            access_log_type=AccessLogType.DownstreamPeriodic,
        )
    )
    no_source = _http(_common(local=_addr(PRODUCTPAGE_IP)))
    streams = [
        # A sidecar: 2 analysed, 1 periodic, 1 without common properties, 1 without source.
        [
            AlsMessage(
                identifier=Identifier(node=PRODUCTPAGE_NODE),
                kind="http",
                entries=(GOOD, periodic, _http(None)),
                index=0,
            ),
            AlsMessage(kind="http", entries=(no_source, GOOD), index=1),
            AlsMessage(index=2),  # no entries
        ],
        # No identifier on the first message: 3 entries skipped.
        [
            AlsMessage(kind="http", entries=(GOOD, GOOD), index=0),
            AlsMessage(kind="http", entries=(GOOD,), index=1),
        ],
        # An Envoy of no role: 1 entry skipped.
        _stream(Node(id="front-envoy"), GOOD),
        [],
    ]
    metrics, accounting, diagnostics = _run(streams)
    assert len(metrics) == 2
    assert accounting == Accounting(
        streams=4,
        messages=6,
        entries_in=9,
        analyzed=2,
        skipped=FrozenMap(
            {
                SkipReason.INTERMEDIATE_ENTRY: 1,
                SkipReason.NO_COMMON_PROPERTIES: 1,
                SkipReason.NO_SOURCE_ADDRESS: 1,
                SkipReason.NO_IDENTIFIER: 3,
                SkipReason.ROLE_NONE: 1,
            }
        ),
        metrics_out=2,
    )
    assert accounting.skipped_total == 7
    assert accounting.to_dict() == {
        "streams": 4,
        "messages": 6,
        "entries_in": 9,
        "analyzed": 2,
        # In SkipReason order.
        "skipped": {
            "no-identifier": 3,
            "role-none": 1,
            "no-common-properties": 1,
            "intermediate-entry": 1,
            "no-source-address": 1,
        },
        "skipped_total": 7,
        "metrics_out": 2,
        "dropped": {},
        "entries_dropped": 0,
        "input_entries": 9,
    }
    assert [(str(d.location), d.reason.split(":")[0]) for d in diagnostics] == [
        ("<input>, message 0", "the stream's first message has no identifier"),
        ("<input>, message 0", "the role rule gives node 'front-envoy' no role"),
    ]


@pytest.mark.parametrize(("node", "node_id"), [(Node(id="front-envoy"), "front-envoy"), (None, "")])
def test_a_stream_of_no_role_is_noted_once_where_it_starts(node: Node | None, node_id: str) -> None:
    message = AlsMessage(
        identifier=Identifier(node=node), entries=(GOOD, GOOD), index=3, source="front.bin"
    )
    _, accounting, diagnostics = _run([[message, attrs.evolve(message, index=4)]])
    assert diagnostics == (
        Diagnostic(
            kind=DiagnosticKind.NOTE,
            location=Location(source="front.bin", message_index=3),
            reason=f"the role rule gives node {node_id!r} no role: its entries are skipped "
            "(pass role_rule= for Envoys that do not use Istio's node ids)",
        ),
    )
    assert dict(accounting.skipped) == {SkipReason.ROLE_NONE: 4}


def test_skip_reason_values_are_stable() -> None:
    assert [reason.value for reason in SkipReason] == [
        "no-identifier",
        "role-none",
        "no-common-properties",
        "intermediate-entry",
        "no-source-address",
        "no-local-address",
        "unknown-direction",
        "no-local-identity",
        "no-peer",
        "malformed-peer",
        "reported-by-envoy",
        "outside-time-range",
        "no-start-time",
        "skywalking-no-metric: gateway-without-upstream",
        "skywalking-no-metric: gateway-without-local-ip",
        "skywalking-no-metric: special-cluster",
        "skywalking-no-metric: no-istio-cluster",
        "skywalking-no-metric: no-peer",
        "skywalking-no-metric: outbound-without-upstream",
        "skywalking-no-metric: l4-connection",
    ]


def test_periodic_tcp_entries_do_not_double_count_bytes() -> None:
    def tcp(kind: AccessLogType, received: int) -> TcpEntry:
        common = _common(
            remote=_addr(PRODUCTPAGE_IP),
            local=_addr(REVIEWS_IP, 27017),
            cluster="inbound|27017||",
            access_log_type=kind,
        )
        # Envoy's counters are cumulative: each periodic entry repeats what came before.
        return TcpEntry(
            common_properties=common,
            connection_properties=ConnectionProperties(
                received_bytes=received, sent_bytes=received
            ),
        )

    entries = (
        tcp(AccessLogType.TcpUpstreamConnected, 0),
        tcp(AccessLogType.TcpPeriodic, 100),
        tcp(AccessLogType.TcpPeriodic, 250),
        tcp(AccessLogType.TcpConnectionEnd, 300),
    )
    metrics, accounting, _ = _run(_stream(PRODUCTPAGE_NODE, *entries, kind="tcp"))
    assert sum(metric.received_bytes or 0 for metric in metrics) == 300
    assert dict(accounting.skipped) == {SkipReason.INTERMEDIATE_ENTRY: 3}


def test_analysis_is_lazy_and_accounts_while_iterating() -> None:
    pulled: list[int] = []

    def messages() -> Iterator[AlsMessage]:
        yield AlsMessage(identifier=Identifier(node=GATEWAY_NODE), kind="http", entries=(GOOD,))
        pulled.append(1)
        yield AlsMessage(kind="http", entries=(GOOD, _http(None)))
        pulled.append(2)

    analysis = analyze(messages(), resolver=DictResolver(RESOLVER_TABLE))
    assert (pulled, analysis.accounting) == ([], Accounting())
    assert iter(analysis) is analysis
    next(analysis)
    # The entry is counted before its first metric is handed out.
    mid = analysis.accounting
    assert (mid.entries_in, mid.analyzed, mid.metrics_out, pulled) == (1, 1, 1, [])
    rest = analysis.metrics()
    assert len(rest) == 1
    assert pulled == [1, 2]
    done = analysis.accounting
    assert (done.entries_in, done.analyzed, done.skipped_total, done.metrics_out) == (3, 2, 1, 2)
    assert analysis.metrics() == []
    with pytest.raises(StopIteration):
        next(analysis)


def test_reidentify_through_analyze() -> None:
    messages = [
        AlsMessage(identifier=Identifier(node=GATEWAY_NODE), kind="http", entries=(GOOD,)),
        AlsMessage(identifier=Identifier(node=PRODUCTPAGE_NODE), kind="http", entries=(GOOD,)),
    ]
    plain, _, diagnostics = _run(messages)
    assert [metric.role for metric in plain] == [Role.PROXY, Role.PROXY]
    assert len(diagnostics) == 1
    multiplexed, _, diagnostics = _run(messages, reidentify=True)
    assert [metric.role for metric in multiplexed] == [Role.PROXY, Role.SIDECAR]
    assert diagnostics == ()


def test_bad_input_raises_stream_error_while_iterating() -> None:
    analysis = analyze([AlsMessage(), "not a message"], resolver=DictResolver({}))
    with pytest.raises(StreamError):
        analysis.metrics()
    with pytest.raises(StreamError):
        analyze(5, resolver=DictResolver({})).metrics()  # type: ignore[arg-type]


def test_one_stream_and_a_list_of_it_are_the_same() -> None:
    stream = _stream(PRODUCTPAGE_NODE, GOOD, GOOD)
    assert _run(stream)[0] == _run([stream])[0]
    assert _run(stream)[1].streams == 1


def test_accountings_merge_field_by_field_in_reason_order() -> None:
    first = Accounting(
        streams=1,
        messages=2,
        entries_in=5,
        analyzed=3,
        skipped=FrozenMap({SkipReason.ROLE_NONE: 2}),
        metrics_out=6,
    )
    second = Accounting(
        streams=2,
        messages=3,
        entries_in=4,
        analyzed=1,
        skipped=FrozenMap({SkipReason.ROLE_NONE: 1, SkipReason.NO_IDENTIFIER: 2}),
        metrics_out=2,
    )
    merged = first + second
    assert merged == Accounting(
        streams=3,
        messages=5,
        entries_in=9,
        analyzed=4,
        skipped=FrozenMap({SkipReason.NO_IDENTIFIER: 2, SkipReason.ROLE_NONE: 3}),
        metrics_out=8,
    )
    assert list(merged.skipped) == [SkipReason.NO_IDENTIFIER, SkipReason.ROLE_NONE]
    assert merged == second.merge(first)
    assert first + Accounting() == first


def _l4_line(src: str, dst: str) -> L4Connection:
    return L4Connection(
        event=ConnectionEvent.COMPLETE,
        timestamp_ns=2_000_000_000_000,
        src=L4Peer(address=L4Address(src, 40000)),
        dst=L4Peer(address=L4Address(dst, 9080)),
        direction=Direction.OUTBOUND,
        bytes_sent=10,
        bytes_recv=20,
    )


def test_l4_lines_an_envoy_reports_are_skipped_and_every_stream_is_read() -> None:
    # productpage's sidecar reports its own outbound connections: ztunnel's lines of them are
    # counted once, by the sidecar; the gateway's line is ztunnel's alone.
    envoy = _stream(PRODUCTPAGE_NODE, GOOD)
    ztunnel = [
        _l4_line(PRODUCTPAGE_IP, REVIEWS_IP),
        _l4_line(PRODUCTPAGE_IP, REVIEWS_IP),
        _l4_line(GATEWAY_IP, REVIEWS_IP),
    ]
    later = _stream(PRODUCTPAGE_NODE, GOOD)
    metrics, accounting, _ = _run([envoy, ztunnel, later])
    assert [(metric.source.service, metric.destination.service) for metric in metrics] == [
        ("reviews", "productpage"),
        ("gateway", "reviews"),
        ("reviews", "productpage"),
    ]
    assert dict(accounting.skipped) == {SkipReason.REPORTED_BY_ENVOY: 2}
    assert (accounting.streams, accounting.entries_in, accounting.analyzed) == (3, 5, 3)


def test_the_resolver_is_asked_each_address_once_per_analysis() -> None:
    resolver = DictResolver(RESOLVER_TABLE)
    analyze(_stream(PRODUCTPAGE_NODE, GOOD, GOOD, GOOD), resolver=resolver).metrics()
    assert resolver.questions == [(PRODUCTPAGE_IP, 0), (REVIEWS_IP, 0)]


def _named(app: str, ip: str) -> Node:
    metadata: FrozenMap[str, JsonValue] = FrozenMap(
        {"NAME": f"{app}-1", "NAMESPACE": "default", "LABELS": FrozenMap({"app": app})}
    )
    return Node(id=f"sidecar~{ip}~{app}-1.default~default.svc.cluster.local", metadata=metadata)


@pytest.mark.parametrize(("reidentify", "source"), [(False, UNKNOWN.service), (True, "reviews")])
def test_auto_names_take_every_identifier_when_reidentifying(reidentify: bool, source: str) -> None:
    # One stream, two Envoys: reviews' identity is known only from the second message's.
    messages = [
        AlsMessage(
            identifier=Identifier(node=_named("productpage", PRODUCTPAGE_IP)),
            kind="http",
            entries=(GOOD,),
        ),
        AlsMessage(
            identifier=Identifier(node=_named("reviews", REVIEWS_IP)), kind="http", entries=()
        ),
    ]
    analysis = analyze(messages, resolver="auto", reidentify=reidentify)
    assert [metric.source.service for metric in analysis.metrics()] == [source]
