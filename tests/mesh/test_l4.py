"""L4 connection entries -> TCP metrics: sides, names, bytes, status, and counting once."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

import meshals
from meshals import UNKNOWN, AlsMessage, Node, ServiceMetaInfo, StaticResolver, StreamError
from meshals._values import FrozenMap
from meshals.codec._l4_lines import parse_l4_line
from meshals.mesh import SkipReason
from meshals.mesh._l4 import (
    L4_ROLE,
    ZTUNNEL,
    EnvoyReporters,
    l4_metrics,
    service_name_of_host,
    workload_name_of_pod,
)
from meshals.model._l4 import ConnectionEvent, Direction, L4Address, L4Connection, L4Peer
from meshals.model._metrics import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ServiceMeshMetric,
    TlsMode,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ztunnel"
LOG_TIME = 1_717_071_490_172_761_000  # 2024-05-30T12:18:10.172761Z
SLEEP_ID = "spiffe://cluster.local/ns/demo/sa/sleep"
HTTPBIN_ID = "spiffe://cluster.local/ns/demo/sa/httpbin"

SLEEP = L4Peer(
    address=L4Address("10.244.0.10", 47667),
    workload="sleep-7656cf8794-9v2gv",
    namespace="demo",
    identity=SLEEP_ID,
)
HTTPBIN = L4Peer(
    address=L4Address("10.244.0.7", 15008),
    workload="httpbin-86b8ffc5ff-bhvxx",
    namespace="demo",
    identity=HTTPBIN_ID,
)
INBOUND = L4Connection(
    event=ConnectionEvent.COMPLETE,
    timestamp_ns=LOG_TIME,
    level="info",
    src=SLEEP,
    dst=HTTPBIN,
    dst_hbone_address=L4Address("10.244.0.7", 8080),
    dst_service="httpbin.demo.svc.cluster.local",
    direction=Direction.INBOUND,
    bytes_sent=239,
    bytes_recv=76,
    duration_ns=2_000_000,
    source="z.log",
    index=4,
    line=6,
)
OUTBOUND = attrs.evolve(INBOUND, direction=Direction.OUTBOUND, bytes_sent=76, bytes_recv=239)

SLEEP_INFO = ServiceMetaInfo(
    service="sleep.demo", instance="sleep-7656cf8794-9v2gv.demo", namespace="demo"
)
HTTPBIN_INFO = ServiceMetaInfo(
    service="httpbin.demo", instance="httpbin-86b8ffc5ff-bhvxx.demo", namespace="demo"
)


def only_metric(connection: L4Connection, **options: object) -> ServiceMeshMetric:
    outcome = l4_metrics(connection, **options)  # type: ignore[arg-type]
    assert isinstance(outcome, tuple)
    (metric,) = outcome
    return metric


def test_inbound_is_the_server_side() -> None:
    metric = only_metric(INBOUND)
    assert metric == ServiceMeshMetric(
        analyzer=ZTUNNEL,
        role=L4_ROLE,
        detect_point=DetectPoint.SERVER,
        protocol=MeshProtocol.TCP,
        source=SLEEP_INFO,
        destination=HTTPBIN_INFO,
        status=True,
        tls_mode=TlsMode.MTLS,
        peer_identity=SLEEP_ID,
        local_identity=HTTPBIN_ID,
        timings=EntryTimings(start_time_ns=LOG_TIME - 2_000_000, duration_ns=2_000_000),
        received_bytes=76,
        sent_bytes=239,
    )
    assert metric.analyzer == "ztunnel"
    assert metric.origin == MetricOrigin(source="z.log", message_index=4, entry_index=0)
    assert (metric.start_time_ns, metric.end_time_ns, metric.latency_ns) == (
        LOG_TIME - 2_000_000,
        LOG_TIME,
        2_000_000,
    )
    # SkyWalking's views know no byte times: the end is the start, the latency its minimum.
    assert (metric.start_time_ms, metric.end_time_ms, metric.latency_ms) == (
        1_717_071_490_170,
        1_717_071_490_170,
        1,
    )


def test_outbound_is_the_client_side_with_the_bytes_swapped() -> None:
    metric = only_metric(OUTBOUND)
    assert (metric.detect_point, metric.peer_identity, metric.local_identity) == (
        DetectPoint.CLIENT,
        HTTPBIN_ID,
        SLEEP_ID,
    )
    # Both sides of one connection report the request as received, the response as sent.
    assert (metric.received_bytes, metric.sent_bytes) == (76, 239)
    assert (metric.source, metric.destination) == (SLEEP_INFO, HTTPBIN_INFO)
    assert (metric.start_time_ns, metric.end_time_ns) == (LOG_TIME - 2_000_000, LOG_TIME)


def test_origin_can_be_given() -> None:
    origin = MetricOrigin(source="mixed", message_index=9, entry_index=0)
    assert only_metric(INBOUND, origin=origin).origin == origin


# (the connection, its metric's source, its destination)
NAMES = [
    pytest.param(INBOUND, SLEEP_INFO, HTTPBIN_INFO, id="workloads-and-service"),
    pytest.param(
        attrs.evolve(INBOUND, dst_service=None),
        SLEEP_INFO,
        ServiceMetaInfo(
            service="httpbin.demo", instance="httpbin-86b8ffc5ff-bhvxx.demo", namespace="demo"
        ),
        id="no-service-named-by-workload",
    ),
    pytest.param(
        attrs.evolve(
            INBOUND,
            src=L4Peer(address=L4Address("10.244.0.1", 5)),
            dst=L4Peer(address=L4Address("10.244.0.7", 8080)),
            dst_hbone_address=None,
            dst_service="httpbin.demo.svc.cluster.local",
        ),
        UNKNOWN,
        ServiceMetaInfo(service="httpbin.demo", instance="10.244.0.7", namespace="demo"),
        id="no-workloads",
    ),
    pytest.param(
        attrs.evolve(
            OUTBOUND,
            dst=L4Peer(address=L4Address("142.250.74.46", 443)),
            dst_hbone_address=None,
            dst_service=None,
        ),
        SLEEP_INFO,
        UNKNOWN,
        id="external-host",
    ),
    pytest.param(
        attrs.evolve(
            OUTBOUND,
            dst=L4Peer(workload="api"),
            dst_hbone_address=L4Address("api.example.com", 443),
            dst_service="api.example.com",
        ),
        SLEEP_INFO,
        ServiceMetaInfo(service="api.example.com", instance="api"),
        id="service-entry-host",
    ),
    pytest.param(
        attrs.evolve(
            OUTBOUND,
            dst=attrs.evolve(HTTPBIN, workload="waypoint-5567b86c58-jtj8k"),
            dst_hbone_address=L4Address("10.96.120.7", 8080),
        ),
        SLEEP_INFO,
        ServiceMetaInfo(
            service="httpbin.demo", instance="waypoint-5567b86c58-jtj8k.demo", namespace="demo"
        ),
        id="through-a-waypoint",
    ),
    pytest.param(
        attrs.evolve(
            INBOUND,
            src=L4Peer(workload="sleep"),
            dst=L4Peer(),
            dst_hbone_address=None,
            dst_service="httpbin.other.svc",
        ),
        ServiceMetaInfo(service="sleep", instance="sleep"),
        ServiceMetaInfo(service="httpbin.other", instance="UNKNOWN", namespace="other"),
        id="no-namespaces",
    ),
]


@pytest.mark.parametrize(("connection", "source", "destination"), NAMES)
def test_names_come_from_the_line(
    connection: L4Connection, source: ServiceMetaInfo, destination: ServiceMetaInfo
) -> None:
    metric = only_metric(connection)
    assert (metric.source, metric.destination) == (source, destination)


def test_a_resolver_is_asked_first() -> None:
    ingress = ServiceMetaInfo(service="sleep-svc", instance="sleep-pod")
    table = StaticResolver({"10.244.0.10": ingress, "10.244.0.7:8080": UNKNOWN})
    metric = only_metric(INBOUND, resolver=table)
    # The destination is asked by its HBONE target (the workload), not the tunnel port.
    assert (metric.source, metric.destination) == (ingress, UNKNOWN)


def test_the_line_names_what_the_resolver_does_not_know() -> None:
    table = StaticResolver({"10.244.0.7": ServiceMetaInfo(service="h", instance="h-1")})
    metric = only_metric(attrs.evolve(OUTBOUND, dst_hbone_address=None), resolver=table)
    assert (metric.source, metric.destination.service) == (SLEEP_INFO, "h")


class RecordingResolver:
    """A resolver that knows nobody and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int | None]] = []

    def resolve(self, ip: str, port: int | None, /) -> ServiceMetaInfo | None:
        self.asked.append((ip, port))
        return None


@pytest.mark.parametrize(
    ("connection", "asked"),
    [
        (INBOUND, [("10.244.0.10", 47667), ("10.244.0.7", 8080)]),
        (
            attrs.evolve(INBOUND, dst_hbone_address=None),
            [("10.244.0.10", 47667), ("10.244.0.7", 15008)],
        ),
        (
            attrs.evolve(INBOUND, dst_hbone_address=L4Address("db.example", 5432)),
            [("10.244.0.10", 47667), ("10.244.0.7", 15008)],
        ),
        (attrs.evolve(INBOUND, src=L4Peer(), dst=L4Peer(), dst_hbone_address=None), []),
    ],
)
def test_which_addresses_the_resolver_is_asked(
    connection: L4Connection, asked: list[tuple[str, int]]
) -> None:
    resolver = RecordingResolver()
    only_metric(connection, resolver=resolver)
    assert resolver.asked == asked


# (the connection, status, TLS mode, peer identity)
OUTCOMES = [
    (INBOUND, True, TlsMode.MTLS, SLEEP_ID),
    (attrs.evolve(INBOUND, error="connection refused"), False, TlsMode.MTLS, SLEEP_ID),
    (
        attrs.evolve(INBOUND, event=ConnectionEvent.FAILED, error="denied"),
        False,
        TlsMode.MTLS,
        SLEEP_ID,
    ),
    (attrs.evolve(INBOUND, src=attrs.evolve(SLEEP, identity=None)), True, TlsMode.NONE, None),
    (
        attrs.evolve(OUTBOUND, dst=attrs.evolve(HTTPBIN, identity=None)),
        True,
        TlsMode.NONE,
        None,
    ),
    (
        attrs.evolve(OUTBOUND, src=attrs.evolve(SLEEP, identity=None)),
        True,
        TlsMode.NONE,
        HTTPBIN_ID,
    ),
]


@pytest.mark.parametrize(("connection", "status", "tls_mode", "peer_identity"), OUTCOMES)
def test_status_tls_and_peer_identity(
    connection: L4Connection, status: bool, tls_mode: TlsMode, peer_identity: str | None
) -> None:
    metric = only_metric(connection)
    assert (metric.status, metric.tls_mode, metric.peer_identity) == (
        status,
        tls_mode,
        peer_identity,
    )


def test_a_failed_connection_has_no_duration() -> None:
    failed = attrs.evolve(
        INBOUND,
        event=ConnectionEvent.FAILED,
        error="denied",
        bytes_sent=None,
        bytes_recv=None,
        duration_ns=None,
    )
    metric = only_metric(failed)
    assert metric.timings == EntryTimings(start_time_ns=LOG_TIME)
    assert (metric.received_bytes, metric.sent_bytes, metric.end_time_ns) == (None, None, None)


@pytest.mark.parametrize(
    ("connection", "reason"),
    [
        (attrs.evolve(INBOUND, event=ConnectionEvent.OPENED), SkipReason.INTERMEDIATE_ENTRY),
        (attrs.evolve(INBOUND, direction=None), SkipReason.UNKNOWN_DIRECTION),
    ],
)
def test_lines_without_metric(connection: L4Connection, reason: SkipReason) -> None:
    assert l4_metrics(connection) is reason


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("reviews.bookinfo.svc.cluster.local", "reviews.bookinfo"),
        ("reviews.bookinfo.svc", "reviews.bookinfo"),
        ("reviews.bookinfo.svc.mesh.example.", "reviews.bookinfo"),
        ("api.example.com", "api.example.com"),
        ("reviews", "reviews"),
        ("a.b.svcx.cluster.local", "a.b.svcx.cluster.local"),
    ],
)
def test_service_name_of_host(host: str, expected: str) -> None:
    assert service_name_of_host(host) == expected


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        ("productpage-v1-57ffb6658c-vmb6z", "productpage-v1"),
        ("httpbin-86b8ffc5ff-bhvxx", "httpbin"),
        ("sleep-7656cf8794-9v2gv", "sleep"),
        ("coredns-5d78c9869d-x2v8k", "coredns"),
        ("ztunnel-8xw2q", "ztunnel"),  # a DaemonSet's pod
        ("mysql-0", "mysql-0"),  # a StatefulSet's pod
        ("productpage", "productpage"),  # a canonical name, as ztunnel falls back to
        ("front-store", "front-store"),  # vowels: not generated
        ("-bhvxx", "-bhvxx"),
        ("x-7656cf8794-bhvxx", "x"),
        ("app-v2-bhvxx", "app-v2"),
    ],
)
def test_workload_name_of_pod(pod: str, expected: str) -> None:
    assert workload_name_of_pod(pod) == expected


# --- counting each connection side once ----------------------------------------------------

WAYPOINT = Node(
    id="waypoint~10.244.2.9~waypoint-5567b86c58-jtj8k.bookinfo~bookinfo.svc.cluster.local"
)
GATEWAY = Node(
    id="router~10.244.3.4~istio-ingressgateway-699c7dc774-hjxq5.istio-system~x",
    metadata=FrozenMap({"INSTANCE_IPS": "10.244.3.4,fd00::34"}),
)


def sandwich(direction: Direction, src: str, dst: str, hbone: str | None = None) -> L4Connection:
    return L4Connection(
        event=ConnectionEvent.COMPLETE,
        timestamp_ns=LOG_TIME,
        src=L4Peer(address=L4Address(src, 40000)),
        dst=L4Peer(address=L4Address(dst, 15008)),
        dst_hbone_address=None if hbone is None else L4Address(hbone, 9080),
        direction=direction,
    )


REPORTED = [
    # ztunnel delivered it to the waypoint's pod: the waypoint reports that server side.
    (sandwich(Direction.INBOUND, "10.244.1.12", "10.244.2.9"), True),
    # ztunnel carried it out of the waypoint's pod: the waypoint reports that client side.
    (sandwich(Direction.OUTBOUND, "10.244.2.9", "10.244.1.14"), True),
    # The app's own sides, to or from the waypoint: only ztunnel reports them.
    (sandwich(Direction.OUTBOUND, "10.244.1.12", "10.244.2.9"), False),
    (sandwich(Direction.INBOUND, "10.244.2.9", "10.244.1.14"), False),
    (sandwich(Direction.INBOUND, "10.244.1.12", "10.244.1.99", hbone="fd00::34"), True),
    (sandwich(Direction.INBOUND, "10.244.1.12", "10.244.3.4"), True),
    (attrs.evolve(sandwich(Direction.INBOUND, "10.244.1.12", "10.244.2.9"), direction=None), False),
    (attrs.evolve(INBOUND, src=L4Peer(), dst=L4Peer(), dst_hbone_address=None), False),
]


@pytest.mark.parametrize(("connection", "reported"), REPORTED)
def test_envoy_reporters(connection: L4Connection, reported: bool) -> None:
    envoys = EnvoyReporters()
    for node in (WAYPOINT, GATEWAY, None, Node(id="no-ip-here")):
        envoys.add(node)
    assert envoys.ips == {"10.244.2.9", "10.244.3.4", "fd00::34"}
    assert envoys.reports(connection) is reported


def test_envoy_reporters_from_ips() -> None:
    envoys = EnvoyReporters(["FD00:0::34", "10.244.2.9"])
    assert envoys.ips == {"fd00::34", "10.244.2.9"}
    assert envoys.reports(sandwich(Direction.INBOUND, "10.244.1.12", "10.244.2.9"))
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        envoys.add_ip("waypoint")


# --- the fixtures end to end ------------------------------------------------------------------

# (detect point, source, destination, received, sent, status, TLS mode), line by line
BOOKINFO = [
    ("server", "productpage-v1.bookinfo", "details.bookinfo", 283, 358, True, "mTLS"),
    ("client", "productpage-v1.bookinfo", "details.bookinfo", 283, 358, True, "mTLS"),
    ("client", "reviews-v2.bookinfo", "ratings.bookinfo", 211, 219, True, "mTLS"),
    ("server", "UNKNOWN", "reviews.bookinfo", 301, 688, True, "mTLS"),
    ("client", "productpage-v1.bookinfo", "reviews.bookinfo", 254, 696, True, "mTLS"),
    ("server", "UNKNOWN", "productpage.bookinfo", 245, 5293, True, "NONE"),
    ("client", "productpage-v1.bookinfo", "UNKNOWN", 517, 4811, True, "NONE"),
    ("server", "productpage-v1.bookinfo", "reviews.bookinfo", 0, 0, False, "mTLS"),
    ("server", "UNKNOWN", "UNKNOWN", None, None, False, "NONE"),
    ("client", "reviews-v2.bookinfo", "ratings.bookinfo", 0, 0, False, "mTLS"),
    ("client", "details-v1.bookinfo", "reviews.bookinfo", 0, 0, True, "mTLS"),
]


@pytest.mark.parametrize("name", ["ambient-bookinfo.log", "ambient-bookinfo.jsonl"])
def test_bookinfo_fixture_metrics(name: str) -> None:
    rows = []
    skipped = []
    for number, text in enumerate((FIXTURES / name).read_text().splitlines(), start=1):
        entry = parse_l4_line(text, source=name, line=number)
        if not isinstance(entry, L4Connection):
            continue
        outcome = l4_metrics(entry)
        if isinstance(outcome, SkipReason):
            skipped.append(outcome)
            continue
        for metric in outcome:
            rows.append(
                (
                    metric.detect_point.value,
                    metric.source.service,
                    metric.destination.service,
                    metric.received_bytes,
                    metric.sent_bytes,
                    metric.status,
                    metric.tls_mode.value,
                )
            )
    assert rows == BOOKINFO
    assert skipped == [SkipReason.INTERMEDIATE_ENTRY] * 2


def test_kmesh_fixture_metrics() -> None:
    lines = (FIXTURES / "kmesh-accesslog.log").read_text().splitlines()
    entries = [parse_l4_line(text) for text in lines]
    metrics = [only_metric(entry) for entry in entries if isinstance(entry, L4Connection)]
    assert [
        (
            metric.detect_point.value,
            metric.source.instance,
            metric.destination.service,
            metric.received_bytes,
            metric.sent_bytes,
            metric.latency_ns,
            metric.tls_mode.value,
        )
        for metric in metrics
    ] == [
        (
            "server",
            "sleep-7656cf8794-9v2gv.ambient-demo",
            "httpbin.ambient-demo",
            76,
            239,
            2_236_000,
            "NONE",
        ),
        (
            "client",
            "sleep-7656cf8794-9v2gv.ambient-demo",
            "httpbin.ambient-demo",
            76,
            239,
            2_509_000,
            "NONE",
        ),
        ("client", "sleep-7656cf8794-9v2gv.ambient-demo", "UNKNOWN", 0, 0, 1_728_765_417, "NONE"),
    ]


def test_analyze_counts_l4_connections_and_asks_the_resolver() -> None:
    connections = list(meshals.read(FIXTURES / "ambient-bookinfo.log"))
    by_ip = ServiceMetaInfo(service="by-ip", instance="by-ip-1")
    analysis = meshals.analyze(connections, resolver=StaticResolver({"10.244.1.13": by_ip}))
    metrics = analysis.metrics()
    assert analysis.accounting == meshals.Accounting(
        streams=1,
        entries_in=13,
        analyzed=11,
        metrics_out=11,
        skipped=FrozenMap({SkipReason.INTERMEDIATE_ENTRY: 2}),
    )
    assert len(metrics) == 11
    assert sum(metric.destination == by_ip for metric in metrics) == 3
    assert sum(metric.source == by_ip for metric in metrics) == 1


def test_a_stream_of_l4_connections_holds_nothing_else() -> None:
    connections = list(meshals.read(FIXTURES / "ambient-bookinfo.log"))
    analysis = meshals.analyze([connections[0], AlsMessage()], resolver=StaticResolver({}))
    with pytest.raises(
        StreamError, match=r"^a stream mixes L4 connection lines with AlsMessage values$"
    ):
        analysis.metrics()
