"""Istio's standard metrics of the real recordings: exact series, read back by a parser."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

import meshals
from meshals._optional import MissingDependencyError
from meshals.examples import example
from meshals.output import (
    HTTP_LABELS,
    ISTIO_BUCKETS,
    TCP_LABELS,
    IstioMetrics,
    istio_metrics,
    istio_metrics_of,
)
from meshals.resolve import KubernetesResolver

parser = pytest.importorskip("prometheus_client.parser", reason="needs the prometheus extra")

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENVOY = sorted((FIXTURES / "envoy").glob("*.bin"))
SNAPSHOT = FIXTURES / "k8s" / "bookinfo-loopback.json"


def envoy_series() -> IstioMetrics:
    snapshot = KubernetesResolver.from_file(SNAPSHOT)
    return istio_metrics([meshals.read(path) for path in ENVOY], snapshot=snapshot)


def by_labels(
    series: Mapping[tuple[str, ...], int], names: tuple[str, ...]
) -> list[dict[str, str]]:
    return [dict(zip(names, key, strict=True)) for key in series]


PRODUCTPAGE = {
    "workload": "productpage-v1",
    "workload_namespace": "default",
    "app": "productpage",
    "version": "v1",
    "canonical_service": "productpage",
    "canonical_revision": "v1",
    "cluster": "Kubernetes",
}
GATEWAY_TO_PRODUCTPAGE = {
    "reporter": "destination",
    "source_workload": "istio-ingressgateway",
    "source_workload_namespace": "istio-system",
    "source_principal": "unknown",
    "source_app": "istio-ingressgateway",
    "source_version": "unknown",
    "source_canonical_service": "istio-ingressgateway",
    "source_canonical_revision": "v1",
    "source_cluster": "Kubernetes",
    **{f"destination_{name}": value for name, value in PRODUCTPAGE.items()},
    "destination_principal": "unknown",
    "destination_service": "productpage.default.svc.cluster.local",
    "destination_service_name": "productpage",
    "destination_service_namespace": "default",
    "request_protocol": "http",
    "response_flags": "-",
    "connection_security_policy": "none",
    "response_code": "200",
    "grpc_response_status": "",
}
REVIEWS_TO_RATINGS_FAILED = {
    "reporter": "source",
    "source_workload": "reviews-v1",
    "source_workload_namespace": "default",
    "source_principal": "unknown",
    "source_app": "reviews",
    "source_version": "v1",
    "source_canonical_service": "reviews",
    "source_canonical_revision": "v1",
    "source_cluster": "Kubernetes",
    # ratings has no sidecar, so no peer metadata: the snapshot's pod (no owner references
    # in this snapshot, so the pod's own name), in the reporting proxy's cluster
    "destination_workload": "ratings-v1-rtg",
    "destination_workload_namespace": "default",
    "destination_principal": "unknown",
    "destination_app": "ratings",
    "destination_version": "v1",
    "destination_service": "ratings.default.svc.cluster.local",
    "destination_service_name": "ratings",
    "destination_service_namespace": "default",
    "destination_canonical_service": "ratings",
    "destination_canonical_revision": "v1",
    "destination_cluster": "Kubernetes",
    "request_protocol": "grpc",
    "response_flags": "-",
    "connection_security_policy": "unknown",
    "response_code": "200",
    "grpc_response_status": "5",
}
MONGODB_INBOUND = {
    "reporter": "destination",
    **{f"source_{name}": value for name, value in PRODUCTPAGE.items()},
    "source_principal": "unknown",
    "destination_workload": "mongodb-v1",
    "destination_workload_namespace": "default",
    "destination_principal": "unknown",
    "destination_app": "mongodb",
    "destination_version": "v1",
    "destination_service": "mongodb.default.svc.cluster.local",
    "destination_service_name": "mongodb",
    "destination_service_namespace": "default",
    "destination_canonical_service": "mongodb",
    "destination_canonical_revision": "v1",
    "destination_cluster": "Kubernetes",
    "request_protocol": "tcp",
    "response_flags": "-",
    "connection_security_policy": "none",
}


def test_the_envoy_recordings_series_exactly() -> None:
    series = envoy_series()
    assert len(series.requests_total) == 21
    key = tuple(GATEWAY_TO_PRODUCTPAGE[name] for name in HTTP_LABELS)
    assert series.requests_total[key] == 3
    failed = tuple(REVIEWS_TO_RATINGS_FAILED[name] for name in HTTP_LABELS)
    assert series.requests_total[failed] == 1
    duration = series.request_duration_milliseconds[failed]
    assert (duration.count, duration.sum) == (1, 1.0)  # whole milliseconds
    assert duration.buckets[:2] == ((0.5, 0), (1.0, 1))
    # downstream wire bytes: headers, body and HTTP/2 framing
    assert (series.request_bytes[failed].sum, series.response_bytes[failed].sum) == (248.0, 109.0)
    per_reporter: dict[str, int] = {}
    for labels, count in zip(
        by_labels(series.requests_total, HTTP_LABELS), series.requests_total.values(), strict=True
    ):
        per_reporter[labels["reporter"]] = per_reporter.get(labels["reporter"], 0) + count
    # gateway 6 (one NR), productpage's sidecar 11 out, reviews' 4 gRPC out; 5 + 4 + 5 in
    assert per_reporter == {"source": 21, "destination": 14}
    tcp = tuple(MONGODB_INBOUND[name] for name in TCP_LABELS)
    assert series.tcp_connections_opened_total[tcp] == series.tcp_connections_closed_total[tcp] == 2
    assert (series.tcp_sent_bytes_total[tcp], series.tcp_received_bytes_total[tcp]) == (1564, 1564)
    assert len(series.tcp_connections_opened_total) == 3
    assert series.request_messages_total == {}  # the recordings log no grpc_stats object


def test_the_prometheus_text_reads_back_sample_for_sample() -> None:
    series = envoy_series()
    text = series.to_prometheus()
    families = {family.name: family for family in parser.text_string_to_metric_families(text)}
    assert sorted(families) == [
        "istio_request_bytes",
        "istio_request_duration_milliseconds",
        "istio_request_messages",
        "istio_requests",
        "istio_response_bytes",
        "istio_response_messages",
        "istio_tcp_connections_closed",
        "istio_tcp_connections_opened",
        "istio_tcp_received_bytes",
        "istio_tcp_sent_bytes",
    ]
    read = {
        tuple(sample.labels[name] for name in HTTP_LABELS): sample.value
        for sample in families["istio_requests"].samples
    }
    assert read == {key: float(count) for key, count in series.requests_total.items()}
    buckets = [
        sample.labels["le"]
        for sample in families["istio_request_duration_milliseconds"].samples
        if sample.name.endswith("_bucket")
    ][: len(ISTIO_BUCKETS) + 1]
    assert buckets[-3:] == ["1800000", "3600000", "+Inf"]  # as Envoy prints them
    assert buckets[0] == "0.5"
    assert 'le="1.8e+06"' not in text
    assert "# HELP istio_request_bytes Bytes received from the downstream on the wire" in text
    assert "python_info" not in text  # a private registry: nothing of the process


def test_without_a_snapshot_peers_without_metadata_are_unknown() -> None:
    series = istio_metrics(example("bookinfo").streams())
    labels = by_labels(series.requests_total, HTTP_LABELS)
    to_ratings = [found for found in labels if found["destination_service_name"] == "ratings"]
    assert {found["destination_workload"] for found in to_ratings} == {"unknown"}
    assert {found["destination_canonical_revision"] for found in to_ratings} == {"latest"}
    assert sum(series.requests_total.values()) == 35


def test_the_waypoint_recording() -> None:
    series = istio_metrics(meshals.read(FIXTURES / "mx" / "waypoint.bin"))
    [labels] = by_labels(series.requests_total, HTTP_LABELS)
    assert labels == {
        "reporter": "waypoint",
        "source_workload": "productpage",
        "source_workload_namespace": "bookinfo",
        "source_principal": "unknown",
        "source_app": "productpage",
        "source_version": "v1",
        "source_canonical_service": "productpage",
        "source_canonical_revision": "v1",  # the version label, as the injector falls back
        "source_cluster": "Kubernetes",
        "destination_workload": "reviews",
        "destination_workload_namespace": "bookinfo",
        "destination_principal": "unknown",
        "destination_app": "reviews",
        "destination_version": "v2",
        "destination_service": "reviews.bookinfo.svc.cluster.local",
        "destination_service_name": "reviews",
        "destination_service_namespace": "bookinfo",
        "destination_canonical_service": "reviews",
        "destination_canonical_revision": "v2",
        "destination_cluster": "Kubernetes",
        "request_protocol": "http",
        "response_flags": "-",
        "connection_security_policy": "none",
        "response_code": "200",
        "grpc_response_status": "",
    }


def ztunnel_series(*snapshot: KubernetesResolver) -> dict[tuple[str, ...], dict[str, str]]:
    series = istio_metrics(
        meshals.read(FIXTURES / "ztunnel" / "ambient-bookinfo.log"),
        snapshot=snapshot[0] if snapshot else None,
    )
    found: dict[tuple[str, ...], dict[str, str]] = {}
    for labels in by_labels(series.tcp_connections_opened_total, TCP_LABELS):
        key = (
            labels["reporter"],
            labels["source_principal"].rpartition("/")[2],
            labels["destination_service_name"],
            labels["response_flags"],
        )
        assert key not in found
        found[key] = labels
    return found


def test_the_ztunnel_log() -> None:
    series = istio_metrics(meshals.read(FIXTURES / "ztunnel" / "ambient-bookinfo.log"))
    found = ztunnel_series()
    assert len(found) == len(series.tcp_connections_opened_total) == 9
    inbound = found["destination", "bookinfo-productpage", "details", "-"]
    assert inbound == {
        "reporter": "destination",
        "source_workload": "unknown",  # the line names the pod; the workload is ztunnel's store's
        "source_workload_namespace": "bookinfo",
        "source_principal": "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage",
        "source_app": "unknown",
        "source_version": "unknown",
        "source_canonical_service": "unknown",
        "source_canonical_revision": "unknown",
        "source_cluster": "unknown",
        "destination_workload": "unknown",
        "destination_workload_namespace": "bookinfo",
        "destination_principal": "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-details",
        "destination_app": "unknown",
        "destination_version": "unknown",
        "destination_service": "details.bookinfo.svc.cluster.local",
        "destination_service_name": "details",
        "destination_service_namespace": "bookinfo",
        "destination_canonical_service": "unknown",
        "destination_canonical_revision": "unknown",
        "destination_cluster": "unknown",
        "request_protocol": "tcp",
        "response_flags": "-",
        "connection_security_policy": "mutual_tls",  # HBONE
    }
    key = tuple(inbound.values())
    assert (series.tcp_received_bytes_total[key], series.tcp_sent_bytes_total[key]) == (283, 358)
    # opened by its "connection opened" line, closed by its "connection complete" line
    assert series.tcp_connections_opened_total[key] == series.tcp_connections_closed_total[key]
    outbound = found["source", "bookinfo-productpage", "details", "-"]
    assert outbound["source_principal"].endswith("/sa/bookinfo-productpage")
    assert ("destination", "bookinfo-productpage", "reviews", "DENY") in found  # policy
    assert ("source", "bookinfo-reviews", "ratings", "-") in found  # refused: no flag outbound
    plaintext = found["destination", "unknown", "productpage", "-"]
    assert plaintext["connection_security_policy"] == "unknown"  # ztunnel has no "none"


def test_the_ztunnel_log_with_its_snapshot() -> None:
    snapshot = KubernetesResolver.from_file(FIXTURES / "k8s" / "ambient-bookinfo.json")
    inbound = ztunnel_series(snapshot)["destination", "bookinfo-productpage", "details", "-"]
    assert {
        name: inbound[f"{side}_{name}"]
        for side in ("source", "destination")
        for name in ("workload", "app", "canonical_service", "canonical_revision", "cluster")
        if side == "source"
    } == {
        "workload": "productpage-v1",
        "app": "productpage",  # ztunnel's app is the canonical service
        "canonical_service": "productpage",
        "canonical_revision": "v1",
        "cluster": "unknown",
    }
    assert inbound["destination_workload"] == "details-v1"


def test_adding_two_files_equals_reading_both() -> None:
    snapshot = KubernetesResolver.from_file(SNAPSHOT)
    parts = [istio_metrics(meshals.read(path), snapshot=snapshot) for path in ENVOY]
    total = istio_metrics_of(())
    for part in parts:
        total = total + part
    assert total == envoy_series()


def test_a_collector_for_any_registry() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(istio_metrics(example("bookinfo").streams()).collector())
    assert b'reporter="source"' in generate_latest(registry)


def test_without_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    series = istio_metrics(example("bookinfo").streams())  # the aggregation needs none
    with pytest.raises(MissingDependencyError) as caught:
        series.to_prometheus()
    assert isinstance(caught.value, ImportError)
    assert (caught.value.module, caught.value.extra) == ("prometheus_client", "prometheus")


def test_nothing_in_nothing_out() -> None:
    assert istio_metrics([]) == istio_metrics_of(())
    assert istio_metrics_of(()).requests_total == {}


def test_the_mutual_tls_recording() -> None:
    snapshot = KubernetesResolver.from_file(FIXTURES / "k8s" / "bookinfo-mtls.json")
    paths = sorted((FIXTURES / "envoy" / "mtls").glob("*.bin"))
    series = istio_metrics([meshals.read(path) for path in paths], snapshot=snapshot)
    identity = {
        (
            labels["reporter"],
            labels["source_workload"],
            labels["destination_workload"],
            labels["response_code"],
        ): (
            labels["source_principal"],
            labels["destination_principal"],
            labels["connection_security_policy"],
        )
        for labels in by_labels(series.requests_total, HTTP_LABELS)
    }
    sa = "spiffe://cluster.local/ns/default/sa/"
    # the server side reads both certificates of the downstream connection
    assert identity["destination", "productpage-v1", "details-v1", "200"] == (
        sa + "bookinfo-productpage",
        sa + "bookinfo-details",
        "mutual_tls",
    )
    assert identity["destination", "istio-ingressgateway", "productpage-v1", "200"] == (
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
        sa + "bookinfo-productpage",
        "mutual_tls",
    )
    # a plaintext client of a PERMISSIVE workload: no certificates
    assert identity["destination", "legacy-client", "details-v1", "200"] == (
        "unknown",
        "unknown",
        "none",
    )
    # the client side's upstream TLS is not in ALS
    assert identity["source", "productpage-v1", "details-v1", "200"] == ("unknown",) * 3
    tcp = by_labels(series.tcp_connections_opened_total, TCP_LABELS)
    inbound = [labels for labels in tcp if labels["reporter"] == "destination"]
    assert [labels["connection_security_policy"] for labels in inbound] == ["mutual_tls"]
