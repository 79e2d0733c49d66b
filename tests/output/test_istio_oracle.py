"""The independent check of ``meshals metrics``: Istio's series computed by Istio's rules.

``_istio_rules.py`` and ``_ztunnel_rules.py`` compute, from the recorded entries and without
meshals, the series Istio's own proxies (the istio_stats filter, ztunnel) would export; the
test runs meshals' command line on the same files, parses its Prometheus text with
prometheus_client and compares every sample: label for label, counts, bucket counts, ``_count``
and ``_sum``. Beside it, one request of each kind worked out by hand from the recording's
``.jsonl`` and ``ground_truth.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from _istio_peers import Snapshot
from _istio_rules import expected_samples, http_observation, read_stream, tcp_observation
from _prom_samples import diff, parse
from _ztunnel_rules import expected_samples as ztunnel_samples

from meshals.cli import main

pytest.importorskip("prometheus_client.parser", reason="needs the prometheus extra")

FIXTURES = Path(__file__).parent.parent / "fixtures"
SNAPSHOT = FIXTURES / "k8s" / "bookinfo-loopback.json"


def _meshals(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["metrics", *argv, "-q"]) == 0
    return out.getvalue()


def _mx_files() -> list[Path]:
    # old-istio-sidecar is an Istio 1.1 proxy (Mixer made the metrics then; Istio's proxies
    # export them since 1.5, Istio's "Istio Standard Metrics" reference): no rule of the
    # stats filter describes it.
    return [p for p in sorted((FIXTURES / "mx").glob("*.jsonl")) if "old-istio" not in p.name]


# One line per recording: (id, ALS streams, snapshot or None, extra meshals arguments).
# The mx streams' pod IPs (10.244.x) are in no snapshot of these recordings' pods.
ENVOY_RECORDINGS = [
    pytest.param(sorted((FIXTURES / "envoy").glob("*.jsonl")), SNAPSHOT, (), id="basic"),
    pytest.param(_mx_files(), None, ("--analyzer", "mx-mesh"), id="mx"),
    # The same traffic over Istio-style mutual TLS, with its own pods' snapshot.
    pytest.param(
        sorted((FIXTURES / "envoy" / "mtls").glob("*.jsonl")),
        FIXTURES / "k8s" / "bookinfo-mtls.json",
        (),
        id="mtls",
    ),
    # The basic traffic again, its collector ending the streams twice: one file per gRPC
    # stream, several per Envoy logger; its pods are the basic recording's.
    pytest.param(
        sorted((FIXTURES / "envoy" / "reconnect").glob("*.jsonl")), SNAPSHOT, (), id="reconnect"
    ),
]


@pytest.mark.parametrize(("files", "snapshot", "extra"), ENVOY_RECORDINGS)
def test_envoy_recording_matches_istio(
    files: list[Path], snapshot: Path | None, extra: tuple[str, ...]
) -> None:
    expected = expected_samples(files, snapshot)
    argv = [str(path) for path in files] + list(extra)
    if snapshot is not None:
        argv += ["--k8s-snapshot", str(snapshot)]
    actual = parse(_meshals(*argv))
    difference = diff(expected, actual)
    assert not difference, "\n" + difference


def test_ambient_ztunnel_log_matches_ztunnel() -> None:
    log = FIXTURES / "ztunnel" / "ambient-bookinfo.jsonl"
    difference = diff(ztunnel_samples(log), parse(_meshals(str(log))))
    assert not difference, "\n" + difference


def test_oracle_counts_every_entry() -> None:
    # The oracle sees every entry of the basic recording: 35 HTTP entries (4 + 6 + 16 + 9,
    # the README's table) and 5 TCP connections.
    samples = expected_samples(sorted((FIXTURES / "envoy").glob("*.jsonl")), SNAPSHOT)
    totals = {
        name: sum(v for (n, _), v in samples.items() if n == name)
        for name in ("istio_requests_total", "istio_tcp_connections_closed_total")
    }
    assert totals == {"istio_requests_total": 35, "istio_tcp_connections_closed_total": 5}


# --- Hand-checked: one request of each kind in the basic recording --------------------------

_PRODUCTPAGE_SOURCE = {
    "reporter": "source",
    "source_workload": "productpage-v1",  # node metadata WORKLOAD_NAME
    "source_canonical_service": "productpage",  # LABELS service.istio.io/canonical-name
    "source_canonical_revision": "v1",
    "source_workload_namespace": "default",
    "source_principal": "unknown",  # the upstream TLS connection is not in ALS
    "source_app": "productpage",
    "source_version": "v1",
    "source_cluster": "Kubernetes",  # CLUSTER_ID
    "destination_principal": "unknown",
    "destination_workload_namespace": "default",
    "destination_service_namespace": "default",
    "destination_cluster": "Kubernetes",
    "connection_security_policy": "unknown",
}

# productpage-http entry 0, call 2 (GET /details/0 -> 200): outbound|9080||details...,
# upstream_peer = details' node metadata (WORKLOAD_NAME details-v1), duration 5.393692 ms,
# downstream wire bytes received 156, sent 152.
HTTP_LABELS = _PRODUCTPAGE_SOURCE | {
    "destination_workload": "details-v1",
    "destination_app": "details",
    "destination_version": "v1",
    "destination_service": "details.default.svc.cluster.local",
    "destination_canonical_service": "details",
    "destination_canonical_revision": "v1",
    "destination_service_name": "details",
    "request_protocol": "http",
    "response_code": "200",
    "grpc_response_status": "",
    "response_flags": "-",
}
# reviews-http entry 0, call 4 (gRPC GetRating, grpc-status 0 in the trailers): ratings has no
# sidecar and no upstream_peer, so the snapshot's pod at 127.0.0.5: ratings-v1-rtg (no owner:
# the pod's name), canonical name from its app label, revision from version.
GRPC_LABELS = {
    **_PRODUCTPAGE_SOURCE,
    "source_workload": "reviews-v1",
    "source_canonical_service": "reviews",
    "source_app": "reviews",
    "destination_workload": "ratings-v1-rtg",
    "destination_app": "ratings",
    "destination_version": "v1",
    "destination_service": "ratings.default.svc.cluster.local",
    "destination_canonical_service": "ratings",
    "destination_canonical_revision": "v1",
    "destination_service_name": "ratings",
    "request_protocol": "grpc",
    "response_code": "200",
    "grpc_response_status": "0",
    "response_flags": "-",
}
# mongodb-tcp entry 0, call 22 (64 bytes echoed): mongodb's inbound side, downstream_peer set
# by its listener to productpage; no TLS: policy "none"; the service from the snapshot.
TCP_LABELS = {
    "reporter": "destination",
    "source_workload": "productpage-v1",
    "source_canonical_service": "productpage",
    "source_canonical_revision": "v1",
    "source_workload_namespace": "default",
    "source_principal": "unknown",
    "source_app": "productpage",
    "source_version": "v1",
    "source_cluster": "Kubernetes",
    "destination_workload": "mongodb-v1",
    "destination_workload_namespace": "default",
    "destination_principal": "unknown",
    "destination_app": "mongodb",
    "destination_version": "v1",
    "destination_service": "mongodb.default.svc.cluster.local",
    "destination_canonical_service": "mongodb",
    "destination_canonical_revision": "v1",
    "destination_service_name": "mongodb",
    "destination_service_namespace": "default",
    "destination_cluster": "Kubernetes",
    "request_protocol": "tcp",
    "response_flags": "-",
    "connection_security_policy": "none",
}
# productpage-http entry 14, call 20 (GET /recommendations/0 -> 503 UF,URX, the pod is dead):
# the snapshot's pod at 127.0.0.6, duration 61.644078 ms, wire bytes 120 in, 256 out.
FAILED_LABELS = _PRODUCTPAGE_SOURCE | {
    "destination_workload": "recommendations-v1-rcm",
    "destination_app": "recommendations",
    "destination_version": "v1",
    "destination_service": "recommendations.default.svc.cluster.local",
    "destination_canonical_service": "recommendations",
    "destination_canonical_revision": "v1",
    "destination_service_name": "recommendations",
    "request_protocol": "http",
    "response_code": "503",
    "grpc_response_status": "",
    "response_flags": "UF,URX",
}
# The basic recording has no blocked external call: productpage-http entry 0 sent to Istio's
# block_all route instead (BlackHoleCluster, no upstream, no peer, 502, Host api.example.com).
BLOCKED_LABELS = _PRODUCTPAGE_SOURCE | {
    "destination_workload": "unknown",
    "destination_workload_namespace": "unknown",
    "destination_app": "unknown",
    "destination_version": "unknown",
    "destination_service": "api.example.com",  # the Host header: no cluster metadata
    "destination_canonical_service": "unknown",
    "destination_canonical_revision": "latest",
    "destination_service_name": "BlackHoleCluster",
    "destination_service_namespace": "unknown",
    "destination_cluster": "unknown",
    "request_protocol": "http",
    "response_code": "502",
    "grpc_response_status": "",
    "response_flags": "-",
}

HAND_CHECKED = [
    pytest.param("productpage-http", 0, (HTTP_LABELS, 5, 156, 152), id="http"),
    pytest.param("reviews-http", 0, (GRPC_LABELS, 3, 248, 161), id="grpc"),
    pytest.param("mongodb-tcp", 0, (TCP_LABELS, 64, 64), id="tcp"),
    pytest.param("productpage-http", 14, (FAILED_LABELS, 61, 120, 256), id="failed-upstream"),
]


def _blocked_stream(tmp_path: Path) -> Path:
    message = json.loads((FIXTURES / "envoy" / "productpage-http.jsonl").read_text().split("\n")[0])
    entry = message["httpLogs"]["logEntry"][0]
    common = entry["commonProperties"]
    for key in ("upstreamRemoteAddress", "upstreamLocalAddress", "filterStateObjects"):
        del common[key]
    common |= {"upstreamCluster": "BlackHoleCluster", "routeName": "block_all"}
    entry["request"]["authority"] = "api.example.com"
    entry["response"]["responseCode"] = 502
    path = tmp_path / "blocked-http.jsonl"
    path.write_text(json.dumps(message) + "\n")
    return path


def _observation(stream: Path, index: int) -> tuple[object, ...]:
    proxy, kind, entry = list(read_stream(stream))[index]
    snapshot = Snapshot(json.loads(SNAPSHOT.read_text()))
    if kind == "http":
        return http_observation(proxy, entry, snapshot)
    return tcp_observation(proxy, entry, snapshot)


@pytest.mark.parametrize(("stream", "index", "expected"), HAND_CHECKED)
def test_rules_by_hand(stream: str, index: int, expected: tuple[object, ...]) -> None:
    assert _observation(FIXTURES / "envoy" / f"{stream}.jsonl", index) == expected


def test_rules_by_hand_blocked_external(tmp_path: Path) -> None:
    assert _observation(_blocked_stream(tmp_path), 0) == (BLOCKED_LABELS, 5, 156, 152)


def _series(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> dict[tuple[tuple[str, str], ...], float]:
    return {key: value for (sample, key), value in samples.items() if sample == name}


# (labels, the family to look in, the value meshals must print for that series: calls 2, 6
# and 10 are three identical GETs; 4, 8 and 12 three gRPC calls; mongodb's inbound series holds
# both of its connections, calls 22 and 23, 64 + 1500 bytes, whose labels are equal).
MESHALS_HAND_CHECKED = [
    pytest.param(HTTP_LABELS, "istio_requests_total", 3.0, id="http"),
    pytest.param(GRPC_LABELS, "istio_requests_total", 3.0, id="grpc"),
    pytest.param(TCP_LABELS, "istio_tcp_received_bytes_total", 1564.0, id="tcp"),
    pytest.param(FAILED_LABELS, "istio_requests_total", 1.0, id="failed-upstream"),
]


@pytest.mark.parametrize(("labels", "name", "value"), MESHALS_HAND_CHECKED)
def test_meshals_by_hand(labels: dict[str, str], name: str, value: float) -> None:
    files = [str(p) for p in sorted((FIXTURES / "envoy").glob("*.jsonl"))]
    samples = parse(_meshals(*files, "--k8s-snapshot", str(SNAPSHOT)))
    assert _series(samples, name).get(tuple(sorted(labels.items()))) == value


def test_meshals_by_hand_blocked_external(tmp_path: Path) -> None:
    samples = parse(_meshals(str(_blocked_stream(tmp_path)), "--k8s-snapshot", str(SNAPSHOT)))
    assert _series(samples, "istio_requests_total") == {tuple(sorted(BLOCKED_LABELS.items())): 1.0}
