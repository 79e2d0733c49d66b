"""The deprecated ``istio_metrics(ServiceMeshMetric...)``: it warns and approximates."""

from __future__ import annotations

import pytest

from meshals import Role, ServiceMeshMetric, ServiceMetaInfo, analyze
from meshals.examples import example
from meshals.model import DetectPoint, EntryTimings, MeshProtocol, MetricOrigin
from meshals.output import HTTP_LABELS, istio_metrics

PRODUCTPAGE = ServiceMetaInfo(
    service="productpage.default",
    instance="productpage-v1-xyz",
    namespace="default",
    tags={"app": "productpage", "version": "v1"},
)
REVIEWS = ServiceMetaInfo(service="reviews", instance="reviews-v2-abc", namespace="default")
DEPRECATED = "istio_metrics\\(\\) of ServiceMeshMetric values is deprecated"


def call(side: DetectPoint, role: Role = Role.SIDECAR, entry: int = 0) -> ServiceMeshMetric:
    return ServiceMeshMetric(
        role=role,
        detect_point=side,
        protocol=MeshProtocol.HTTP,
        source=PRODUCTPAGE,
        destination=REVIEWS,
        response_code=200,
        status=True,
        timings=EntryTimings(start_time_ns=0, time_to_last_upstream_rx_byte_ns=3_900_000),
        origin=MetricOrigin(source="capture", message_index=0, entry_index=entry),
    )


def test_metrics_still_work_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        series = istio_metrics([call(DetectPoint.CLIENT)])
    [(key, count)] = series.requests_total.items()
    assert count == 1
    assert dict(zip(HTTP_LABELS, key, strict=True)) == {
        "reporter": "source",
        "source_workload": "productpage",  # the approximation: the service name's first part
        "source_workload_namespace": "default",
        "source_principal": "unknown",
        "source_app": "productpage",
        "source_version": "v1",
        "source_canonical_service": "productpage",
        "source_canonical_revision": "v1",
        "source_cluster": "unknown",
        "destination_workload": "reviews",
        "destination_workload_namespace": "default",
        "destination_principal": "unknown",
        "destination_app": "unknown",
        "destination_version": "unknown",
        "destination_service": "reviews",
        "destination_service_name": "reviews",
        "destination_service_namespace": "default",
        "destination_canonical_service": "reviews",
        "destination_canonical_revision": "latest",
        "destination_cluster": "unknown",
        "request_protocol": "http",
        "response_flags": "-",
        "connection_security_policy": "unknown",
        "response_code": "200",
        "grpc_response_status": "",
    }
    [histogram] = series.request_duration_milliseconds.values()
    assert (histogram.count, histogram.sum) == (1, 3.0)  # whole milliseconds


def test_a_gateway_entry_is_one_source_sample() -> None:
    server = call(DetectPoint.SERVER, Role.PROXY)
    client = call(DetectPoint.CLIENT, Role.PROXY)
    waypoint = call(DetectPoint.SERVER, Role.WAYPOINT, entry=1)
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        series = istio_metrics([server, client, waypoint])
    reporters = sorted(
        (dict(zip(HTTP_LABELS, key, strict=True))["reporter"], count)
        for key, count in series.requests_total.items()
    )
    assert reporters == [("source", 1), ("waypoint", 1)]


def test_the_bundled_examples_analysis() -> None:
    bookinfo = example("bookinfo")
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        series = istio_metrics(analyze(bookinfo.streams(), resolver=bookinfo.resolver()))
    assert sum(series.requests_total.values()) == 35
    assert sum(series.tcp_sent_bytes_total.values()) == 2 * 1564
