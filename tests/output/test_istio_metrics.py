"""Istio's standard metrics: one sample per request per proxy, Istio's labels, read back."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import attrs
import pytest

from meshals import UNKNOWN, Role, ServiceMeshMetric, ServiceMetaInfo
from meshals._optional import MissingDependencyError
from meshals.examples import example
from meshals.model import (
    DetectPoint,
    EntryTimings,
    MeshProtocol,
    MetricOrigin,
    ResponseFlag,
    TlsMode,
)
from meshals.output._istio_metrics import (
    HTTP_LABELS,
    ISTIO_BUCKETS,
    TCP_LABELS,
    IstioHistogram,
    istio_metrics,
)

parser = pytest.importorskip("prometheus_client.parser", reason="needs the prometheus extra")

PRODUCTPAGE = ServiceMetaInfo(
    service="productpage.default",
    instance="productpage-v1-xyz",
    namespace="default",
    tags={"app": "productpage", "version": "v1"},
)
REVIEWS = ServiceMetaInfo(
    service="reviews",
    instance="reviews-v2-abc",
    namespace="default",
    tags={
        "service.istio.io/canonical-name": "reviews-canonical",
        "service.istio.io/canonical-revision": "v2",
        "workload": "reviews-v2",
    },
)
GATEWAY = ServiceMetaInfo(service="istio-ingressgateway", instance="gw-0", namespace="istio-system")
WAYPOINT = ServiceMetaInfo(service="waypoint", instance="waypoint-0", namespace="default")
SPIFFE = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
MS = 1_000_000
START = 1_700_000_000_000_000_000


def call(
    *,
    role: Role = Role.SIDECAR,
    side: DetectPoint = DetectPoint.CLIENT,
    protocol: MeshProtocol = MeshProtocol.HTTP,
    source: ServiceMetaInfo = PRODUCTPAGE,
    destination: ServiceMetaInfo = REVIEWS,
    code: int | None = 200,
    latency_ns: int | None = 3 * MS,
    entry: int = 0,
    **fields: object,
) -> ServiceMeshMetric:
    # The latency is the last byte time of the side: downstream tx (server), upstream rx (client).
    if latency_ns is None:
        timings = EntryTimings()
    elif side is DetectPoint.SERVER:
        timings = EntryTimings(start_time_ns=START, time_to_last_downstream_tx_byte_ns=latency_ns)
    else:
        timings = EntryTimings(start_time_ns=START, time_to_last_upstream_rx_byte_ns=latency_ns)
    return ServiceMeshMetric(
        role=role,
        detect_point=side,
        protocol=protocol,
        source=source,
        destination=destination,
        endpoint=None if protocol is MeshProtocol.TCP else "GET:/reviews/0",
        response_code=None if protocol is MeshProtocol.TCP else code,
        status=True,
        timings=timings,
        origin=MetricOrigin(source="capture", message_index=0, entry_index=entry),
        **fields,  # type: ignore[arg-type]
    )


def families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(sample.name, dict(sample.labels), sample.value) for sample in family.samples]
        for family in parser.text_string_to_metric_families(text)
    }


def labels(values: Sequence[str], names: Sequence[str] = HTTP_LABELS) -> dict[str, str]:
    return dict(zip(names, values, strict=True))


CLIENT_LABELS = {
    "reporter": "source",
    "source_workload": "productpage",
    "source_workload_namespace": "default",
    "source_principal": "unknown",
    "source_app": "productpage",
    "source_version": "v1",
    "source_canonical_service": "productpage",
    "source_canonical_revision": "v1",
    "destination_workload": "reviews-v2",
    "destination_workload_namespace": "default",
    "destination_principal": "unknown",
    "destination_app": "unknown",
    "destination_version": "unknown",
    "destination_service": "reviews",
    "destination_service_name": "reviews",
    "destination_service_namespace": "default",
    "destination_canonical_service": "reviews-canonical",
    "destination_canonical_revision": "v2",
    "request_protocol": "http",
    "response_flags": "-",
    "connection_security_policy": "unknown",
    "response_code": "200",
    "grpc_response_status": "",
}


def test_a_sidecar_client_call_in_every_request_series() -> None:
    text = istio_metrics([call()]).to_prometheus()
    found = families(text)
    assert found["istio_requests"] == [("istio_requests_total", CLIENT_LABELS, 1.0)]
    buckets = [
        (sample_labels["le"], value)
        for name, sample_labels, value in found["istio_request_duration_milliseconds"]
        if name.endswith("_bucket")
    ]
    assert (
        buckets
        == [
            ("0.5", 0.0),
            ("1", 0.0),
            ("5", 1.0),  # 3 ms
            *((format(bound, "g"), 1.0) for bound in ISTIO_BUCKETS[3:]),
            ("+Inf", 1.0),
        ]
    )
    totals = {
        name: value
        for name, sample_labels, value in found["istio_request_duration_milliseconds"]
        if not name.endswith("_bucket")
    }
    assert totals == {
        "istio_request_duration_milliseconds_count": 1.0,
        "istio_request_duration_milliseconds_sum": 3.0,
    }
    for name, sample_labels, _ in found["istio_request_duration_milliseconds"]:
        sample_labels.pop("le", None)
        assert sample_labels == CLIENT_LABELS, name
    # No byte counts on the metric: the byte histograms have no series; no TCP series either.
    for family in (
        "istio_request_bytes",
        "istio_response_bytes",
        "istio_tcp_sent_bytes",
        "istio_tcp_received_bytes",
        "istio_tcp_connections_opened",
        "istio_tcp_connections_closed",
    ):
        assert found[family] == []


def test_bucket_bounds_as_envoy_writes_them() -> None:
    text = istio_metrics([call()]).to_prometheus()
    assert 'le="0.5"' in text
    assert 'le="600000"' in text
    assert 'le="1.8e+06"' in text
    assert 'le="3.6e+06"' in text


@pytest.mark.parametrize(
    ("latency_ns", "first_bucket"),
    [(500_000, "0.5"), (500_001, "1"), (1 * MS, "1"), (3_600_000 * MS, "3.6e+06")],
)
def test_a_bound_is_inclusive(latency_ns: int, first_bucket: str) -> None:
    [histogram] = istio_metrics(
        [call(latency_ns=latency_ns)]
    ).request_duration_milliseconds.values()
    first = next(bound for bound, count in histogram.buckets if count == 1)
    assert format(first, "g") == first_bucket


def test_beyond_the_last_bound_only_inf_counts() -> None:
    [histogram] = istio_metrics(
        [call(latency_ns=7200 * 1000 * MS)]
    ).request_duration_milliseconds.values()
    assert histogram == IstioHistogram(
        buckets=tuple((float(bound), 0) for bound in ISTIO_BUCKETS), count=1, sum=7_200_000.0
    )


def test_a_sidecar_server_call_knows_the_callers_principal_and_mtls() -> None:
    server = call(side=DetectPoint.SERVER, tls_mode=TlsMode.MTLS, peer_identity=SPIFFE)
    plain = call(side=DetectPoint.SERVER, code=None, latency_ns=None, entry=1)
    series = istio_metrics([server, plain]).requests_total
    assert {tuple(sorted(labels(key).items())): count for key, count in series.items()} == {
        tuple(
            sorted(
                {
                    **CLIENT_LABELS,
                    "reporter": "destination",
                    "source_principal": SPIFFE,
                    "connection_security_policy": "mutual_tls",
                }.items()
            )
        ): 1,
        tuple(
            sorted(
                {
                    **CLIENT_LABELS,
                    "reporter": "destination",
                    "connection_security_policy": "none",
                    "response_code": "0",  # no response was sent: Istio writes 0
                }.items()
            )
        ): 1,
    }
    # Without a latency the call is counted but not observed.
    assert istio_metrics([plain]).request_duration_milliseconds == {}


def test_a_gateways_two_metrics_of_one_entry_are_one_source_sample() -> None:
    inbound = call(
        role=Role.PROXY,
        side=DetectPoint.SERVER,
        source=UNKNOWN,
        destination=GATEWAY,
        latency_ns=40 * MS,
        tls_mode=TlsMode.MTLS,
    )
    outbound = call(
        role=Role.PROXY, side=DetectPoint.CLIENT, source=GATEWAY, destination=PRODUCTPAGE
    )
    no_route = call(
        role=Role.PROXY,
        side=DetectPoint.SERVER,
        source=UNKNOWN,
        destination=GATEWAY,
        code=404,
        entry=1,
        response_flags=frozenset({ResponseFlag.NO_ROUTE_FOUND}),
    )
    series = istio_metrics([inbound, outbound, no_route])
    found = {labels(key)["destination_service"]: labels(key) for key in series.requests_total}
    assert sorted(found) == ["productpage.default", "unknown"]
    routed, unrouted = found["productpage.default"], found["unknown"]
    assert routed["reporter"] == unrouted["reporter"] == "source"
    assert routed["source_workload"] == unrouted["source_workload"] == "istio-ingressgateway"
    assert routed["source_workload_namespace"] == "istio-system"
    assert routed["destination_workload"] == "productpage"  # ".default" is the namespace
    assert routed["connection_security_policy"] == "unknown"
    assert (unrouted["response_code"], unrouted["response_flags"]) == ("404", "NR")
    assert all(value == "unknown" for key, value in unrouted.items() if key.startswith("dest"))
    # The measurements are the server side's: the request as the gateway served it.
    histograms = series.request_duration_milliseconds
    sums = {labels(key)["destination_service"]: item.sum for key, item in histograms.items()}
    assert sums == {"productpage.default": 40.0, "unknown": 3.0}


def test_a_proxys_client_metric_alone_is_a_sample_of_its_own() -> None:
    outbound = call(role=Role.PROXY, source=GATEWAY, destination=PRODUCTPAGE)
    waypoint_out = call(role=Role.WAYPOINT, source=WAYPOINT, destination=REVIEWS, entry=1)
    reporters = {
        labels(key)["reporter"]: labels(key)["source_workload"]
        for key in istio_metrics([outbound, waypoint_out]).requests_total
    }
    assert reporters == {"source": "istio-ingressgateway", "waypoint": "waypoint"}


def test_a_waypoints_entry_is_one_waypoint_sample_from_caller_to_upstream() -> None:
    inbound = call(
        role=Role.WAYPOINT,
        side=DetectPoint.SERVER,
        source=PRODUCTPAGE,
        destination=WAYPOINT,
        tls_mode=TlsMode.MTLS,
        peer_identity=SPIFFE,
    )
    outbound = call(role=Role.WAYPOINT, source=WAYPOINT, destination=REVIEWS)
    other_entry = call(role=Role.WAYPOINT, source=WAYPOINT, destination=REVIEWS, entry=7)
    series = istio_metrics([inbound, outbound]).requests_total
    assert {labels(key)["reporter"]: count for key, count in series.items()} == {"waypoint": 1}
    [key] = series
    assert labels(key) == {
        **CLIENT_LABELS,
        "reporter": "waypoint",
        "source_principal": SPIFFE,
        "connection_security_policy": "mutual_tls",
    }
    # Metrics of different entries do not pair: the server one stands alone.
    unpaired = istio_metrics([inbound, other_entry]).requests_total
    assert sorted(
        (labels(key)["source_workload"], labels(key)["destination_workload"]) for key in unpaired
    ) == [("productpage", "unknown"), ("waypoint", "reviews-v2")]


def test_tcp_connections_and_bytes() -> None:
    first = call(protocol=MeshProtocol.TCP, sent_bytes=10, received_bytes=20)
    second = call(protocol=MeshProtocol.TCP, sent_bytes=5, received_bytes=None, entry=1)
    refused = call(
        protocol=MeshProtocol.TCP,
        entry=2,
        destination=UNKNOWN,
        response_flags=frozenset(
            {ResponseFlag.UPSTREAM_CONNECTION_FAILURE, ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED}
        ),
    )
    found = families(istio_metrics([first, second, refused]).to_prometheus())
    tcp = {
        key: value
        for key, value in CLIENT_LABELS.items()
        if key not in ("response_code", "grpc_response_status")
    }
    tcp["request_protocol"] = "tcp"
    refused_labels = {
        **tcp,
        **{key: "unknown" for key in tcp if key.startswith("destination_")},
        "response_flags": "UF,URX",
    }
    assert found["istio_tcp_sent_bytes"] == [
        ("istio_tcp_sent_bytes_total", tcp, 15.0),
        ("istio_tcp_sent_bytes_total", refused_labels, 0.0),
    ]
    assert found["istio_tcp_received_bytes"] == [
        ("istio_tcp_received_bytes_total", tcp, 20.0),
        ("istio_tcp_received_bytes_total", refused_labels, 0.0),
    ]
    for family in ("istio_tcp_connections_opened", "istio_tcp_connections_closed"):
        assert [(labels, value) for _, labels, value in found[family]] == [
            (tcp, 2.0),
            (refused_labels, 1.0),
        ]
    assert found["istio_requests"] == []
    assert set(TCP_LABELS) == set(tcp)


def test_grpc_status_and_protocol() -> None:
    grpc = call(protocol=MeshProtocol.GRPC, grpc_status=5)
    [key] = istio_metrics([grpc]).requests_total
    found = labels(key)
    assert (found["request_protocol"], found["response_code"], found["grpc_response_status"]) == (
        "grpc",
        "200",
        "5",
    )


def test_request_and_response_sizes_when_the_metric_carries_them() -> None:
    def sized(request: int | None, response: int | None, entry: int) -> ServiceMeshMetric:
        return attrs.evolve(call(entry=entry), request_bytes=request, response_bytes=response)

    series = istio_metrics([sized(700, 5000, 0), sized(90, None, 1)])
    [requests] = series.request_bytes.values()
    [responses] = series.response_bytes.values()
    assert (requests.count, requests.sum) == (2, 790.0)
    assert dict(requests.buckets)[100.0] == 1
    assert dict(requests.buckets)[1000.0] == 2
    assert (responses.count, responses.sum) == (1, 5000.0)
    assert dict(responses.buckets)[2500.0] == 0
    assert dict(responses.buckets)[5000.0] == 1
    found = families(series.to_prometheus())
    counts = [value for name, _, value in found["istio_request_bytes"] if name.endswith("_count")]
    assert counts == [2.0]


def test_the_bundled_example() -> None:
    bookinfo = example("bookinfo")
    from meshals import analyze

    series = istio_metrics(analyze(bookinfo.streams(), resolver=bookinfo.resolver()))
    per_reporter: dict[str, int] = {}
    for key, count in series.requests_total.items():
        reporter = labels(key)["reporter"]
        per_reporter[reporter] = per_reporter.get(reporter, 0) + count
    # Gateway: 6 requests once each; productpage's sidecar 11 out, reviews' 4 gRPC out;
    # productpage, details and reviews' sidecars 5 + 4 + 5 in.
    assert per_reporter == {"source": 21, "destination": 14}
    opened = {
        (labels(key, TCP_LABELS)["reporter"], labels(key, TCP_LABELS)["destination_workload"]): n
        for key, n in series.tcp_connections_opened_total.items()
    }
    assert opened == {
        ("destination", "mongodb"): 2,
        ("source", "mongodb"): 2,
        ("source", "mysqldb"): 1,
    }
    assert sum(series.tcp_sent_bytes_total.values()) == 2 * 1564
    text = series.to_prometheus()
    assert text.startswith("# HELP istio_requests_total ")
    assert "python_info" not in text  # a private registry: nothing of the process


def test_a_collector_for_any_registry() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(istio_metrics([call()]).collector())
    assert b'reporter="source"' in generate_latest(registry)


def test_without_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    series = istio_metrics([call()])  # the aggregation needs no prometheus_client
    with pytest.raises(MissingDependencyError) as caught:
        series.to_prometheus()
    assert isinstance(caught.value, ImportError)
    assert str(caught.value) == (
        "Prometheus output needs prometheus_client, which is not installed:"
        " pip install prometheus_client (meshals' extra 'prometheus')"
    )
    assert (caught.value.module, caught.value.extra) == ("prometheus_client", "prometheus")
